from django.contrib import admin

from .models import IntakeBatch, PixelMaskRule, QuarantinedFile, SafePrivateRule, SubjectMapping, Submission


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("collection", "ae_title", "created_at")


@admin.register(SafePrivateRule)
class SafePrivateRuleAdmin(admin.ModelAdmin):
    list_display = ("group_hex", "creator", "element_hex", "disposition", "name")
    list_filter = ("disposition", "creator")
    search_fields = ("creator", "name")

    @admin.display(description="group")
    def group_hex(self, obj):
        return f"{obj.group:04X}"

    @admin.display(description="element")
    def element_hex(self, obj):
        return f"xx{obj.element:02X}"


@admin.register(PixelMaskRule)
class PixelMaskRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "manufacturer", "model", "rows", "columns", "rects", "active")


@admin.register(IntakeBatch)
class IntakeBatchAdmin(admin.ModelAdmin):
    list_display = ("pk", "submission", "source", "state", "processed", "accepted", "rejected", "created_at")
    exclude = ("lease_owner", "lease_until")


@admin.register(QuarantinedFile)
class QuarantinedFileAdmin(admin.ModelAdmin):
    list_display = ("original_name", "submission", "reason", "created_at", "purged_at")


@admin.register(SubjectMapping)
class SubjectMappingAdmin(admin.ModelAdmin):
    list_display = ("subject_id", "submission", "date_offset_days")
