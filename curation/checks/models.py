"""Curation checks: runs, findings, and per-file facts the checks read instead of rescanning.

A Finding is identified by a fingerprint (check + what it is about), so running a check again
updates the same row; a finding the latest run no longer produces becomes "fixed"
automatically, and a waived one stays waived while it is still present.
"""
from django.conf import settings
from django.db import models

from tcia.core.fields import DocumentJSONField
from django.db.models import Q

from collections_app.models import Collection, Image, Series, StoredFile, Study, Subject
from curation.models import StaffOnlyQuerySet


class FileFacts(models.Model):
    """What the checks need from one stored file: a few header values, its UID references and
    a hash of its pixel values. Filled by the ingest hook from the elements intake already
    reported (no extra read); the pixel hash is computed once, on the first check run."""

    stored_file = models.OneToOneField(StoredFile, on_delete=models.CASCADE, primary_key=True, related_name="check_facts")
    header = DocumentJSONField(default=dict, help_text="Keyword → value (top-level attributes the checks compare).")
    refs = DocumentJSONField(default=list, help_text="[tag_path, uid] of nested UID references (RT, SEG, SR).")
    pixel_hash = models.CharField(max_length=64, blank=True, db_index=True,
                                  help_text="SHA-256 of the decoded pixel values; empty while unknown or without pixels.")
    pixel_hashed = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "file facts"


class CheckState(models.Model):
    """Whether a collection's findings are older than its data."""

    collection = models.OneToOneField(Collection, on_delete=models.CASCADE, related_name="check_state")
    stale = models.BooleanField(default=True)
    stale_since = models.DateTimeField(null=True, blank=True)
    stale_reason = models.CharField(max_length=200, blank=True)
    last_run = models.ForeignKey("CheckRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class CheckRun(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="check_runs")
    checks = models.JSONField(default=list, blank=True, help_text="Check names run (empty: all).")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(default=0, help_text="Steps (checks × work units).")
    done = models.PositiveIntegerField(default=0)
    current = models.CharField(max_length=100, blank=True, help_text="The check running now.")
    found = models.PositiveIntegerField(default=0, help_text="Open findings after the run.")
    new = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="What the curator is told when the run failed (no exception text).")
    dciodvfy_sample = models.CharField(max_length=20, blank=True,
                                       help_text="Empty or 'all': dciodvfy reads every file; 'one_per_series' or n: a sample.")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["pending", "running", "done", "failed"]), name="checkrun_state_valid"),
        ]

    def __str__(self):
        return f"Check run {self.pk} ({self.state})"

    @property
    def percent(self):
        return int(100 * self.done / self.total) if self.total else (100 if self.state == "done" else 0)


class Finding(models.Model):
    class Severity(models.TextChoices):
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        INFO = "info", "Info"

    class Scope(models.TextChoices):
        COLLECTION = "collection", "Collection"
        SUBJECT = "subject", "Subject"
        STUDY = "study", "Study"
        SERIES = "series", "Series"
        IMAGE = "image", "Image"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FIXED = "fixed", "Fixed"
        WAIVED = "waived", "Waived"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="findings")
    check_name = models.CharField(max_length=40, db_index=True, help_text="e.g. duplicate_sop, consistency_series, dciodvfy.")
    severity = models.CharField(max_length=8, choices=Severity.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    message = models.TextField()
    template = models.CharField(max_length=300, blank=True,
                                help_text="The message with UIDs, numbers and values taken out; findings group by it.")
    group_key = models.CharField(max_length=16, blank=True, db_index=True, help_text="Hash of check and template.")
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of check and subject matter; stable across runs.")
    subject = models.ForeignKey(Subject, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    images = models.ManyToManyField(Image, blank=True, related_name="+", help_text="Images the finding is about (capped).")
    uids = models.JSONField(default=dict, blank=True, help_text="Affected UIDs and values, for display and export.")
    details = models.JSONField(default=dict, blank=True)
    fix = models.JSONField(null=True, blank=True, help_text="Proposed correction spec (see curation/checks/fixes.py).")
    fix_label = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    status_reason = models.TextField(blank=True, help_text="Why it was waived, or how it was fixed.")
    status_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status_at = models.DateTimeField(null=True, blank=True)
    correction = models.ForeignKey("curation.Correction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_run = models.ForeignKey(CheckRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_run = models.ForeignKey(CheckRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["collection", "check_name", "-severity", "id"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "fingerprint"], name="finding_unique_fingerprint"),
            models.CheckConstraint(condition=Q(severity__in=["error", "warning", "info"]), name="finding_severity_valid"),
            models.CheckConstraint(condition=Q(status__in=["open", "fixed", "waived"]), name="finding_status_valid"),
            models.CheckConstraint(
                condition=Q(scope__in=["collection", "subject", "study", "series", "image"]), name="finding_scope_valid"
            ),
        ]
        indexes = [models.Index(fields=["collection", "status", "severity"], name="finding_coll_status_idx"),
                   models.Index(fields=["collection", "group_key"], name="finding_coll_group_idx")]

    def __str__(self):
        return f"{self.check_name}: {self.message[:80]}"


def group_key_for(check_name: str, template: str) -> str:
    import hashlib

    return hashlib.sha256(f"{check_name}|{template}".encode()).hexdigest()[:16]


class DciodvfyResult(models.Model):
    """dciodvfy's parsed output for one file content (sha256) and one dciodvfy build: a file is
    verified once, however many runs, series or corrections later see the same bytes."""

    sha256 = models.CharField(max_length=64)
    tool = models.CharField(max_length=32, help_text="Hash of the dciodvfy binary's path, size and time.")
    rows = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sha256", "tool"], name="dciodvfyresult_unique")]
