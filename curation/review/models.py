"""The visual review queue: image equivalence classes (one review task each: a lease, an
assignment, a projection montage), class verdicts that apply to their images, one verdict per
image (append-only), a progress row per series and OCR text detections."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from collections_app.models import Collection, Image, Series, StoredFile
from tcia.core import roles


class StaffOnlyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.all() if roles.is_curator(user) else self.none()


VERDICTS = ["ok", "bad", "blank", "scout", "other", "phi"]


class Verdict(models.Model):
    """A curator's verdict on one image. Rows are never edited: a new verdict supersedes the
    previous one (its `current` flag is cleared and `supersedes` points back at it)."""

    class Kind(models.TextChoices):
        # TCIA's verdicts (Posda's Kaleidoscope): Good / Bad / Blank / Scout / Other, plus
        # "flag for masking" (burned-in text to blank, done through a pixel-mask correction).
        OK = "ok", "Good"
        BAD = "bad", "Bad"
        BLANK = "blank", "Blank"
        SCOUT = "scout", "Scout"
        OTHER = "other", "Other"
        PHI = "phi", "Flag for masking"

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
    class_verdict = models.ForeignKey(
        "ClassVerdict", null=True, blank=True, on_delete=models.PROTECT, related_name="image_verdicts",
        help_text="The class verdict this image verdict came from; empty for a verdict on this image alone.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=VERDICTS),
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
    """Review counts of one series (the review tasks are its image classes)."""

    series = models.OneToOneField(Series, on_delete=models.CASCADE, related_name="review")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    reviewed = models.PositiveIntegerField(default=0, help_text="Images with a current verdict.")
    flagged = models.PositiveIntegerField(default=0, help_text="Images whose current verdict is not Good.")
    likely_text = models.BooleanField(
        default=False, help_text="Ultrasound, secondary or screen capture, or BurnedInAnnotation YES.")
    text_images = models.PositiveIntegerField(default=0, help_text="Images where OCR found text.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffOnlyQuerySet.as_manager()

    def __str__(self):
        return f"Review of series {self.series_id}"


class ImageClass(models.Model):
    """An image equivalence class: images of one series with the same non-geometric attributes
    and geometry (curation/review/classes.py). One review task: a curator takes it (a lease),
    judges its max | mean | min projection montage, and the verdict applies to its images."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="image_classes")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40, help_text="Digest of the attributes and geometry.")
    geometry = models.CharField(max_length=10, help_text="line, radial or extra.")
    attributes = models.JSONField(default=dict, help_text="The attribute values its images share.")
    image_count = models.PositiveIntegerField(default=0)
    reviewed = models.PositiveIntegerField(default=0, help_text="Images with a current verdict.")
    flagged = models.PositiveIntegerField(default=0, help_text="Images whose current verdict is not Good.")
    likely_text = models.BooleanField(default=False, help_text="Some image is likely to carry burned-in text.")
    text_images = models.PositiveIntegerField(default=0, help_text="Images where OCR found text.")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Only this curator may take the class.")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    montage_key = models.CharField(max_length=24, blank=True, help_text="Digest of the member files last rendered.")
    montage_error = models.CharField(max_length=300, blank=True)
    rendered_count = models.PositiveIntegerField(
        default=0, help_text="Images the montage was last rendered from: while it differs from image_count a render is due.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "key"], name="review_class_unique_in_series")]
        indexes = [models.Index(fields=["collection", "claimed_by"], name="review_class_claim_idx")]

    def __str__(self):
        return f"Class {self.pk} of series {self.series_id} ({self.image_count} images)"

    @property
    def done(self) -> bool:
        return self.image_count > 0 and self.reviewed >= self.image_count


class ClassMember(models.Model):
    """Which class an image belongs to (one class per image)."""

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="review_class")
    image_class = models.ForeignKey(ImageClass, on_delete=models.CASCADE, related_name="members")
    needs_ocr = models.BooleanField(default=False, help_text="Likely to carry burned-in text and not OCRed yet.")

    class Meta:
        indexes = [models.Index(fields=["image_class"], condition=models.Q(needs_ocr=True), name="review_member_ocr_due")]

    def __str__(self):
        return f"image {self.image_id} in class {self.image_class_id}"


class ClassVerdict(models.Model):
    """A curator's verdict on a whole class (append-only, like Verdict); recording one writes a
    Verdict on each image of the class, pointing back here."""

    image_class = models.ForeignKey(ImageClass, on_delete=models.PROTECT, related_name="verdicts")
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(max_length=20, choices=Verdict.Kind.choices)
    note = models.TextField(blank=True)
    images = models.PositiveIntegerField(help_text="Images the verdict was applied to.")
    montage_key = models.CharField(max_length=24, blank=True, help_text="The montage the curator looked at.")
    current = models.BooleanField(default=True)
    supersedes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="superseded_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StaffOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=VERDICTS), name="review_class_verdict_valid"),
            models.CheckConstraint(condition=~Q(verdict="other") | ~Q(note=""), name="review_class_other_needs_note"),
            models.UniqueConstraint(fields=["image_class"], condition=Q(current=True),
                                    name="review_one_current_class_verdict"),
        ]

    def __str__(self):
        return f"{self.get_verdict_display()} on class {self.image_class_id}"


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
