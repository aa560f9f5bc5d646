"""The fixity audit: every stored file whose hash is known, when it was last re-hashed, each
run of the audit and each failure it found (with who resolved it and how).

A file that fails is *blocked*: every download path refuses it (fixity.blocking) until a curator
re-verifies it or restores its bytes."""
from django.conf import settings
from django.db import models
from django.db.models import Q


class Storage(models.TextChoices):
    ARCHIVE = "archive", "Archive"
    QUARANTINE = "quarantine", "Quarantine"
    DERIVED = "derived", "Derived"


class FixityRecord(models.Model):
    """One file the audit watches: where it is, what it must hash to, when it last did."""

    class Status(models.TextChoices):
        UNCHECKED = "unchecked", "Not yet checked"
        OK = "ok", "Verified"
        FAILED = "failed", "Failed"

    storage = models.CharField(max_length=12, choices=Storage.choices, help_text="Which of settings.STORAGES holds it.")
    name = models.CharField(max_length=200, help_text="Name in that storage.")
    sha256 = models.CharField(max_length=64, help_text="The sha256 recorded when the file was stored.")
    size = models.PositiveBigIntegerField(help_text="Bytes recorded when the file was stored.")
    stored_file = models.OneToOneField("collections_app.StoredFile", null=True, blank=True, on_delete=models.CASCADE,
                                       related_name="fixity", help_text="The archive file, for archive records.")
    quarantined_file = models.OneToOneField("curation.QuarantinedFile", null=True, blank=True, on_delete=models.CASCADE,
                                            related_name="fixity", help_text="The kept original, for quarantine records.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNCHECKED)
    blocked = models.BooleanField(default=False, help_text="Downloads refuse the file until a curator resolves its failure.")
    last_verified_at = models.DateTimeField(null=True, blank=True, help_text="When it was last re-hashed (any result).")
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["storage", "name"], name="fixity_record_unique_name"),
            models.CheckConstraint(condition=Q(storage__in=["archive", "quarantine", "derived"]), name="fixity_record_storage_valid"),
            models.CheckConstraint(condition=Q(status__in=["unchecked", "ok", "failed"]), name="fixity_record_status_valid"),
        ]
        indexes = [
            # Each run takes the never verified files (in order of arrival), then the least recently verified.
            models.Index(fields=["id"], condition=Q(last_verified_at__isnull=True), name="fixity_never_idx"),
            models.Index(fields=["last_verified_at", "id"], name="fixity_due_idx"),
            models.Index(fields=["storage", "name"], condition=Q(blocked=True), name="fixity_blocked_idx"),
        ]

    def __str__(self):
        return f"{self.storage}:{self.name}"


class FixityRun(models.Model):
    """One pass of the audit over the files that were due (a bounded slice of the whole cycle)."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        ERROR = "error", "Stopped by an error"

    trigger = models.CharField(max_length=20, default="schedule", help_text="schedule, command or curator.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(default=0)
    files_checked = models.PositiveIntegerField(default=0)
    bytes_checked = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    registered = models.PositiveIntegerField(default=0, help_text="Files first seen (and so first added to the audit) by this run.")
    bytes_per_second_limit = models.PositiveBigIntegerField(default=0, help_text="The rate limit it ran under; 0: none.")
    cycle_days = models.PositiveIntegerField(default=0, help_text="A file was due when last verified this many days ago.")
    remaining_due = models.PositiveBigIntegerField(default=0, help_text="Files still due when the run ended.")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [models.CheckConstraint(condition=Q(state__in=["running", "done", "error"]), name="fixity_run_state_valid")]

    def __str__(self):
        return f"fixity run {self.pk} ({self.files_checked} files, {self.failures} failures)"


class FixityFailure(models.Model):
    """A file that did not hash to its recorded sha256 (or was missing, or short). Resolved by a
    curator, never edited otherwise: re-verified (the bytes were fine after all, e.g. a storage
    outage) or restored (the right bytes written back, then re-verified)."""

    class Kind(models.TextChoices):
        MISMATCH = "mismatch", "Different bytes (sha256 mismatch)"
        SIZE = "size", "Wrong size"
        MISSING = "missing", "Missing from storage"
        UNREADABLE = "unreadable", "Could not be read"

    class Resolution(models.TextChoices):
        REVERIFIED = "reverified", "Re-verified"
        RESTORED = "restored", "Restored and re-verified"

    run = models.ForeignKey(FixityRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="failure_set")
    record = models.ForeignKey(FixityRecord, on_delete=models.CASCADE, related_name="failures")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    observed_sha256 = models.CharField(max_length=64, blank=True)
    observed_size = models.PositiveBigIntegerField(null=True, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolution = models.CharField(max_length=12, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["mismatch", "size", "missing", "unreadable"]), name="fixity_failure_kind_valid"),
            models.CheckConstraint(condition=Q(resolution__in=["", "reverified", "restored"]), name="fixity_failure_resolution_valid"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.record}"

    @property
    def open(self) -> bool:
        return self.resolved_at is None
