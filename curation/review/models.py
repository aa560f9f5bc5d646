"""The visual review queue: one verdict per image (append-only), a review row per series
(claim lease, assignment, progress counts, burned-in-text priority) and OCR text detections."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_app.models import Collection, Image, Series, StoredFile
from tcia.core import roles


class StaffOnlyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.all() if roles.is_curator(user) else self.none()


class Verdict(models.Model):
    """A curator's verdict on one image. Rows are never edited: a new verdict supersedes the
    previous one (its `current` flag is cleared and `supersedes` points back at it)."""

    class Kind(models.TextChoices):
        OK = "ok", "OK"
        PHI = "phi", "Burned-in PHI"
        WRONG_BODY_PART = "wrong_body_part", "Wrong body part"
        CORRUPT = "corrupt", "Corrupt or unreadable"
        OTHER = "other", "Other"

    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="review_verdicts")
    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="+", help_text="Copied from the image, for counting.")
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="+")
    stored_file = models.ForeignKey(
        StoredFile, on_delete=models.PROTECT, related_name="+", help_text="The bytes the curator looked at."
    )
    verdict = models.CharField(max_length=20, choices=Kind.choices)
    note = models.TextField(blank=True)
    masked_by = models.ForeignKey(
        "curation.Correction", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="For burned-in PHI: the pixel-mask correction the curator approved.",
    )
    current = models.BooleanField(default=True, help_text="False once a later verdict supersedes this one.")
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=["ok", "phi", "wrong_body_part", "corrupt", "other"]),
                                   name="review_verdict_valid"),
            models.CheckConstraint(condition=~Q(verdict="other") | ~Q(note=""), name="review_other_needs_note"),
            models.UniqueConstraint(fields=["image"], condition=Q(current=True), name="review_one_current_verdict"),
        ]
        indexes = [
            models.Index(fields=["series", "current"], name="review_verdict_series_idx"),
            models.Index(fields=["collection", "current", "verdict"], name="review_verdict_coll_idx"),
        ]

    def __str__(self):
        return f"{self.get_verdict_display()} on image {self.image_id}"


class SeriesReview(models.Model):
    """Review state of one series: who holds it (a lease), who it is assigned to, counts."""

    series = models.OneToOneField(Series, on_delete=models.CASCADE, related_name="review")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Only this curator may claim the series.",
    )
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    reviewed = models.PositiveIntegerField(default=0, help_text="Images with a current verdict.")
    flagged = models.PositiveIntegerField(default=0, help_text="Images whose current verdict is not OK.")
    likely_text = models.BooleanField(
        default=False, help_text="Ultrasound, secondary or screen capture, or BurnedInAnnotation YES.")
    text_images = models.PositiveIntegerField(default=0, help_text="Images where OCR found text.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["collection", "claimed_by"], name="review_series_claim_idx")]

    def __str__(self):
        return f"Review of series {self.series_id}"


class TextDetection(models.Model):
    """OCR of one file's preview: boxes in image pixels, proposed as masks."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="text_detections")
    stored_file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="+")
    boxes = models.JSONField(default=list, help_text="[{x, y, w, h, text, conf}] in image pixels.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "stored_file"], name="review_text_once_per_file")]

    def __str__(self):
        return f"{len(self.boxes)} text boxes on image {self.image_id}"
