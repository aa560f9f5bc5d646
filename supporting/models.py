"""Supporting data: the non-DICOM files of a collection (clinical and outcome tables, LIDC-IDRI
annotation XML, radiomics tables, documents, pathology slides, anything else as opaque).

Bytes live in the archive storage, content-addressed like DICOM (collections_app.StoredFile).
A file's current bytes change only by a new immutable revision (subject IDs mapped, UIDs
remapped, curator dispositions applied); every revision is kept with what changed. A version
freezes the current files (VersionSupportingFile), so every version keeps its exact files.
No value of a table is stored in the database: profiles are computed from the stored bytes.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_app.models import Collection, CollectionVersion, StoredFile
from curation.models import StaffOnlyQuerySet


class Kind(models.TextChoices):
    CLINICAL = "clinical", "Clinical / outcome table"
    RADIOMICS = "radiomics", "Radiomics / feature table"
    ANNOTATION = "annotation", "Annotation XML (LIDC-IDRI readingSession)"
    DOCUMENT = "document", "Document (PDF, TXT)"
    PATHOLOGY = "pathology", "Pathology slide (SVS, TIFF)"
    OTHER = "other", "Other (opaque file)"


TABLE_KINDS = (Kind.CLINICAL, Kind.RADIOMICS)


class Disposition(models.TextChoices):
    KEEP = "keep", "Keep"
    REMOVE = "remove", "Remove column"
    SHIFT = "shift_dates", "Shift dates (subject's offset)"
    HASH = "hash", "Hash"


class SupportingFile(models.Model):
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="supporting_files")
    name = models.CharField(max_length=200, help_text="File name in downloads (under supporting/ in the zip).")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=300, blank=True)
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+",
                                    help_text="The current revision's bytes.")
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    subject_column = models.CharField(max_length=200, blank=True, help_text="Column holding subject IDs (tables).")
    info = models.JSONField(default=dict, blank=True,
                            help_text="What was read from the file: format, rows, columns, dimensions, warnings.")
    detached_at = models.DateTimeField(null=True, blank=True, help_text="Left out of the next versions.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["collection", "name"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "name"], name="supporting_unique_name"),
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="supporting_kind_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    @property
    def warnings(self) -> list[str]:
        return list(self.info.get("warnings", []))


class Revision(models.Model):
    """One immutable state of a supporting file, and what made it from the one before."""

    supporting_file = models.ForeignKey(SupportingFile, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    previous = models.ForeignKey(StoredFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    received_sha256 = models.CharField(max_length=64, blank=True, help_text="sha256 of the bytes as received (rev. 1).")
    reason = models.CharField(max_length=300)
    changes = models.JSONField(default=list, blank=True, help_text="[{what, column, cells}] — never the values.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["supporting_file", "number"]
        constraints = [models.UniqueConstraint(fields=["supporting_file", "number"], name="supporting_revision_unique")]

    def save(self, *args, **kwargs):
        from django.core.exceptions import ValidationError

        if self.pk is not None:
            raise ValidationError("Revisions are append-only.")
        super().save(*args, **kwargs)


class ColumnReview(models.Model):
    """A table column the profiler flagged (or a curator decided on), with its disposition."""

    supporting_file = models.ForeignKey(SupportingFile, on_delete=models.CASCADE, related_name="columns")
    column = models.CharField(max_length=200)
    flags = models.JSONField(default=list, blank=True, help_text="Heuristics that fired: name, mrn, date, phone, address, email.")
    disposition = models.CharField(max_length=12, choices=Disposition.choices, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["supporting_file", "id"]
        constraints = [
            models.UniqueConstraint(fields=["supporting_file", "column"], name="supporting_column_unique"),
            models.CheckConstraint(condition=Q(disposition__in=["", *Disposition.values]), name="supporting_disposition_valid"),
        ]


class VersionSupportingFile(models.Model):
    """A supporting file as a version froze it: its name, kind, description and exact bytes."""

    version = models.ForeignKey(CollectionVersion, on_delete=models.PROTECT, related_name="supporting_entries")
    supporting_file = models.ForeignKey(SupportingFile, null=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=300, blank=True)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    info = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["version", "name"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="version_supporting_unique")]


class DerivedFileLink(models.Model):
    """What a DICOM SEG or RTSTRUCT file of analysis results references, and whether each
    reference resolves to an image of a released version of its source collections."""

    derived_file = models.OneToOneField("doi.DerivedFile", on_delete=models.CASCADE, related_name="link")
    modality = models.CharField(max_length=16)
    references = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    series = models.JSONField(default=list, blank=True, help_text="[{collection, series_uid, version}] referenced.")
    dangling = models.JSONField(default=list, blank=True, help_text="Referenced SOP Instance UIDs not found (capped).")
    error = models.CharField(max_length=300, blank=True)

    @property
    def ok(self) -> bool:
        return not self.error and self.references > 0 and self.resolved == self.references
