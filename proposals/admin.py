"""Admin: the score weights are configured here; scores, decisions and their history are read-only,
because they change only through the services (which write the audit trail)."""
from django.contrib import admin

from .models import Answer, Decision, Notification, Proposal, ProposalAttachment, Question, Score, ScoreWeights


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ScoreWeights)
class ScoreWeightsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "data_quality", "scientific_value", "reuse_potential", "updated_at")

    def has_add_permission(self, request):
        return not ScoreWeights.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return True


class AttachmentInline(admin.TabularInline):
    model = ProposalAttachment
    extra = 0
    readonly_fields = ("name", "size", "uploaded_by", "uploaded_at")
    fields = readonly_fields
    can_delete = False


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = ("title", "submitter", "status", "cancer_type", "submitted_at", "collection")
    list_filter = ("status", "license_requested", "deidentification")
    search_fields = ("title", "cancer_type", "submitter__username")
    inlines = [AttachmentInline]


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "member", "data_quality", "scientific_value", "reuse_potential", "is_current", "created_at")
    list_filter = ("is_current",)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "outcome", "chair", "created_at")
    list_filter = ("outcome",)


@admin.register(Question)
class QuestionAdmin(ReadOnlyAdmin):
    list_display = ("proposal", "asked_by", "created_at")


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    list_display = ("question", "author", "created_at")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("user", "kind", "proposal", "created_at", "read_at")
    list_filter = ("kind",)
