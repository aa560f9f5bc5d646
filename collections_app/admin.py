from django.contrib import admin

from .models import (
    AnatomicSite, Collection, CollectionVersion, Image, Modality, Series, StoredFile, Study, Subject, WikiPage,
    WikiRevision,
)


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("title", "short_name", "status", "access", "license", "subject_count", "image_count")
    list_filter = ("status", "access", "license")
    search_fields = ("title", "short_name", "summary")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("modalities", "anatomic_sites")
    readonly_fields = ("subject_count", "study_count", "series_count", "image_count", "total_bytes")


admin.site.register(Modality)
admin.site.register(AnatomicSite)


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = ("sha256", "size", "content_type", "created_at")
    search_fields = ("sha256",)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ("patient_id", "collection", "patient_sex")
    list_filter = ("collection",)
    search_fields = ("patient_id",)


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("study_instance_uid", "subject", "study_date", "study_description")
    search_fields = ("study_instance_uid",)
    raw_id_fields = ("subject",)


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("series_instance_uid", "collection", "modality", "image_count", "total_bytes")
    list_filter = ("collection", "modality")
    search_fields = ("series_instance_uid",)
    raw_id_fields = ("study", "subject")


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("sop_instance_uid", "series", "instance_number", "file_size")
    search_fields = ("sop_instance_uid",)
    raw_id_fields = ("series", "stored_file")


@admin.register(CollectionVersion)
class CollectionVersionAdmin(admin.ModelAdmin):
    list_display = ("collection", "number", "release_date", "image_count")


class RevisionInline(admin.TabularInline):
    model = WikiRevision
    extra = 0
    fields = ("number", "author", "comment", "created_at")
    readonly_fields = fields
    can_delete = False


@admin.register(WikiPage)
class WikiPageAdmin(admin.ModelAdmin):
    list_display = ("collection", "slug", "title")
    inlines = [RevisionInline]
