"""Curation: submissions, intake batches, quarantine, and the de-identification settings
curators control (subject map, safe private tags, pixel masks).

Original (not de-identified) bytes live only in the 'quarantine' storage: staged uploads until
they are processed, and rejected files until a curator purges them. The subject map keeps a
keyed hash of the original PatientID, never the ID itself.
"""
import hashlib
import hmac

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from collections_app.models import Collection, Image, StoredFile
from tcia.core import roles


def original_key(value: str) -> str:
    """Keyed hash of an original identifier: lets curators match a CSV without storing PHI."""
    secret = settings.TCIA_DEID_SECRET.encode() if isinstance(settings.TCIA_DEID_SECRET, str) else settings.TCIA_DEID_SECRET
    return hmac.new(secret, value.strip().encode("utf-8"), hashlib.sha256).hexdigest()


class StaffOnlyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.all() if roles.is_curator(user) else self.none()


class Submission(models.Model):
    """The curation workspace of one draft collection."""

    collection = models.OneToOneField(Collection, on_delete=models.PROTECT, related_name="submission")
    ae_title = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_]{1,16}$", "1–16 upper-case letters, digits or '_'.")],
        help_text="Called AE title that routes DICOM C-STORE associations to this submission.",
    )
    deid_options = models.JSONField(
        default=list, blank=True, help_text="PS3.15 option names applied on intake (TCIA's set by default)."
    )
    date_offset_min = models.IntegerField(default=-3500, help_text="Smallest per-subject date offset, days.")
    date_offset_max = models.IntegerField(default=-1700, help_text="Largest per-subject date offset, days.")
    promised_subjects = models.PositiveIntegerField(null=True, blank=True, help_text="Subjects the submitters promised.")
    promised_series = models.PositiveIntegerField(null=True, blank=True, help_text="Series the submitters promised.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(date_offset_min__lte=models.F("date_offset_max")), name="submission_offset_range"),
        ]

    def __str__(self):
        return f"Submission: {self.collection.title}"


class SubjectMapping(models.Model):
    """Original PatientID (as a keyed hash) → subject ID and the subject's date offset."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="subject_mappings")
    original_key = models.CharField(max_length=64, help_text="HMAC-SHA256 of the original PatientID.")
    subject_id = models.CharField(max_length=64, help_text="De-identified ID, e.g. RIDER-Lung-CT-0001.")
    date_offset_days = models.IntegerField(help_text="Days added to every date of this subject.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["subject_id"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "original_key"], name="subjectmap_unique_original"),
            models.UniqueConstraint(fields=["submission", "subject_id"], name="subjectmap_unique_subject"),
        ]

    def __str__(self):
        return self.subject_id


class SafePrivateDisposition(models.TextChoices):
    KEEP = "keep", "Keep"
    DELETE = "delete", "Delete"
    UID = "uid", "Remap UID"
    DATE = "date", "Shift date"


class SafePrivateRule(models.Model):
    """A private attribute known to hold no PHI, and what to do with it."""

    Disposition = SafePrivateDisposition

    group = models.PositiveIntegerField(help_text="Odd group number, e.g. 0x0019 = 25.")
    creator = models.CharField(max_length=64, help_text="Private Creator string, e.g. 'GEMS_ACQU_01'.")
    element = models.PositiveSmallIntegerField(help_text="Low byte of the element (0–255).")
    disposition = models.CharField(max_length=8, choices=Disposition.choices, default=Disposition.KEEP)
    vr = models.CharField(max_length=2, blank=True)
    name = models.CharField(max_length=120, blank=True)
    source = models.CharField(max_length=120, blank=True, help_text="Where the rule comes from.")

    class Meta:
        ordering = ["group", "creator", "element"]
        constraints = [
            models.UniqueConstraint(fields=["group", "creator", "element"], name="safeprivate_unique"),
            models.CheckConstraint(condition=Q(element__lte=255), name="safeprivate_element_byte"),
            models.CheckConstraint(condition=Q(disposition__in=SafePrivateDisposition.values), name="safeprivate_disposition"),
        ]

    def __str__(self):
        return f"({self.group:04X},{self.creator},{self.element:02X}) {self.disposition}"


class PixelMaskRule(models.Model):
    """Rectangles blanked in every image whose device signature matches (Clean Pixel Data)."""

    name = models.CharField(max_length=120)
    manufacturer = models.CharField(max_length=64, blank=True, help_text="Empty matches any.")
    model = models.CharField(max_length=64, blank=True, help_text="Empty matches any.")
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    rects = models.CharField(max_length=500, help_text="x,y,w,h groups separated by ';'.")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class BatchState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class IntakeBatch(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Browser upload"
        CLI = "cli", "Command line"
        DICOM = "dicom", "DICOM C-STORE"

    State = BatchState

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="batches")
    source = models.CharField(max_length=10, choices=Source.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    label = models.CharField(max_length=200, blank=True, help_text="What was sent: file names, calling AE title…")
    total = models.PositiveIntegerField(default=0, help_text="Files expected (0 while unknown).")
    processed = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0, help_text="Files already in the archive, byte for byte.")
    conflicts = models.PositiveIntegerField(default=0, help_text="Known SOP Instance UID, other content: kept and flagged.")
    rejected = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Files that could not be processed (original kept: retry).")
    error = models.TextField(blank=True)
    closed = models.BooleanField(
        default=True, help_text="False while files may still arrive (a chunked upload, an open DICOM association)."
    )
    lease_owner = models.CharField(max_length=120, blank=True, help_text="host:pid:token of the process taking the files.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="Another process may take over after this.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "intake batches"
        constraints = [
            models.CheckConstraint(condition=Q(state__in=BatchState.values), name="batch_state_valid"),
        ]

    def __str__(self):
        return f"Batch {self.pk} ({self.get_source_display()})"


class StagedFile(models.Model):
    """A received file waiting in the quarantine storage for a worker (browser uploads, DICOM
    C-STORE, retries). A file is taken when an item names it; a worker killed mid-batch leaves
    every file either taken or waiting, and the next worker goes on from there."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        DONE = "done", "Taken"

    batch = models.ForeignKey(IntakeBatch, on_delete=models.CASCADE, related_name="staged_files")
    position = models.PositiveIntegerField(help_text="Order of arrival in the batch, from 1.")
    name = models.CharField(max_length=500, help_text="File name as received, or 'C-STORE #n'.")
    storage_name = models.CharField(max_length=200, blank=True, help_text="Name in the 'quarantine' storage.")
    source_path = models.CharField(
        max_length=1000, blank=True,
        help_text="A file staged by reference (manage.py ingest): read from this path, never copied or deleted.",
    )
    size = models.PositiveBigIntegerField(default=0)
    claimed_by = models.CharField(max_length=120, blank=True, help_text="host:pid:token of the worker taking it.")
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="Another worker may take it after this.")
    client_key = models.CharField(
        max_length=200, blank=True, help_text="The uploader's key for the file, so a resent chunk is not staged twice."
    )
    retry_of = models.ForeignKey("IntakeItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                 help_text="The failed or rejected item this file is a retry of.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="staged_unique_position"),
            models.UniqueConstraint(fields=["batch", "client_key"], condition=~Q(client_key=""), name="staged_unique_client_key"),
        ]
        indexes = [models.Index(fields=["batch", "state", "position"], name="staged_waiting_idx")]

    def __str__(self):
        return f"{self.batch_id}#{self.position} {self.name}"


class IntakeItem(models.Model):
    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        UNCHANGED = "unchanged", "Already in the archive"
        CONFLICT = "conflict", "Known UID, other content (flagged)"
        REJECTED = "rejected", "Rejected (quarantined)"
        FAILED = "failed", "Failed (original kept: retry)"

    batch = models.ForeignKey(IntakeBatch, on_delete=models.CASCADE, related_name="items")
    staged = models.ForeignKey(StagedFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="items",
                               help_text="The staged file (or zip) this came from.")
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                      help_text="The item of a retry of this file.")
    name = models.CharField(max_length=500, help_text="File name or zip entry as received.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stored_file = models.ForeignKey(StoredFile, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quarantined = models.ForeignKey("QuarantinedFile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class ConflictingFile(models.Model):
    """A file received for a SOP Instance UID the collection already holds, with other content
    (pixel values or a header value; an encoding difference is not one: see
    curation.dicom.compare). Its de-identified bytes stay in the archive store; the index keeps
    one image per instance, and the duplicate-SOP check flags it while the image holds other
    bytes: a curator keeps the indexed file (waives the finding) or switches the image to this
    one (an audited correction, which can be undone)."""

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="conflicting_files")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="conflicts",
                              help_text="The indexed image with the same SOP Instance UID.")
    stored_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+",
                                    help_text="The de-identified bytes that were received and not indexed.")
    differences = models.JSONField(default=list, blank=True,
                                   help_text="Attributes whose values differ ('PixelData' when pixel values do).")
    pixels_differ = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["image", "stored_file"], name="conflict_unique_file")]

    def __str__(self):
        return f"{self.image.sop_instance_uid}: {', '.join(self.differences[:4])}"


class QuarantinedFile(models.Model):
    """A rejected original, kept for curators to inspect; purged by `manage.py purge_quarantine`."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="quarantine")
    batch = models.ForeignKey(IntakeBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    original_name = models.CharField(max_length=500)
    storage_name = models.CharField(max_length=200, blank=True, help_text="Name in the 'quarantine' storage; empty once purged.")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes of the file as received.")
    kept_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Bytes kept: the whole file when it is plausible DICOM under the size limit, else its first bytes."
    )
    sha256 = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.original_name}: {self.reason[:60]}"

    @property
    def whole(self) -> bool:
        """The whole original is kept (so it can be retried), not only its first bytes."""
        return bool(self.storage_name) and self.kept_bytes == self.size and self.size > 0


class CorrectionKind(models.TextChoices):
    TAG_EDIT = "tag_edit", "Tag edit"
    FIX = "fix", "Proposed fix applied"
    PIXEL_MASK = "pixel_mask", "Pixel mask"
    PHI = "phi", "PHI report disposition"
    UNDO = "undo", "Undo"


class CorrectionState(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"


class Correction(models.Model):
    """One curator decision that rewrote files: a tag edit, a proposed fix, a pixel mask, an
    undo. Each touched image gets a CorrectionFile with its old and new bytes (both kept)."""

    Kind = CorrectionKind
    State = CorrectionState

    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="corrections")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    summary = models.CharField(max_length=300, help_text="What was done, e.g. 'SeriesDescription := \"CT chest\"'.")
    scope = models.CharField(max_length=200, blank=True, help_text="Which objects: image, series, study, subject, collection.")
    spec = models.JSONField(default=dict, blank=True, help_text="The operation, so a task can (re)run it.")
    reason = models.TextField(help_text="Why, in the curator's words.")
    undoes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=CorrectionKind.values), name="correction_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=CorrectionState.values), name="correction_state_valid"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"


class CorrectionFile(models.Model):
    """One image a correction rewrote: the bytes before and after, and each tag change."""

    correction = models.ForeignKey(Correction, on_delete=models.PROTECT, related_name="files")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="corrections")
    old_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    new_file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    changes = models.JSONField(default=list, help_text="[{tag_path, old, new}] as strings.")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["correction", "image"], name="correctionfile_unique")]
