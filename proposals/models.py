"""Submission proposals and the committee's triage: questions, blind scores and decisions.

Models hold data and constraints only. Every write goes through `proposals.services`, which also
writes the audit event, the notifications and the e-mails; `proposals.selectors` reads.

Scores and decisions are append-only: a changed score is a new row that supersedes the old
one, and the latest decision is the one in force.
"""
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from collections_app.models import AnatomicSite, Collection, License, Modality
from tcia.core import roles

# Members of this group (who are also committee members) record decisions; so does the admin role.
# A group rather than a user flag: the user model belongs to Django, and groups are edited in the admin.
CHAIR_GROUP = "committee_chair"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    NEEDS_INFORMATION = "needs_information", "Needs information"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    DEFERRED = "deferred", "Deferred"


# The submitter may change the proposal only while it is theirs to change.
EDITABLE_STATUSES = (ProposalStatus.DRAFT, ProposalStatus.NEEDS_INFORMATION)
# The committee scores proposals that are waiting for a decision.
REVIEWABLE_STATUSES = (ProposalStatus.SUBMITTED, ProposalStatus.NEEDS_INFORMATION, ProposalStatus.DEFERRED)
# Once decided for good, scores are no longer blind: blindness protects independent judgement, not secrecy.
FINAL_STATUSES = (ProposalStatus.ACCEPTED, ProposalStatus.REJECTED)


class Deidentification(models.TextChoices):
    IDENTIFIED = "identified", "Not de-identified (contains PHI)"
    PARTIAL = "partial", "Partially de-identified"
    LOCAL = "local", "De-identified with local tools"
    PS315 = "ps315", "De-identified following DICOM PS3.15 / TCIA profile"


class ProposalQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The one read rule: submitters see their own, the committee sees submitted ones,
        curators see accepted ones, the public sees none. Roles combine by union."""
        names = roles.role_names(user)
        if not names:
            return self.none()
        q = Q(pk__in=[])
        if roles.SUBMITTER in names:
            q |= Q(submitter=user)
        if roles.is_committee(user):
            q |= ~Q(status=ProposalStatus.DRAFT)
        if roles.is_curator(user):
            q |= Q(status=ProposalStatus.ACCEPTED)
        return self.filter(q)


class Proposal(models.Model):
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals", help_text="Who files the proposal."
    )
    title = models.CharField(max_length=200, help_text="Working title of the collection.")
    cancer_type = models.CharField(max_length=100, blank=True, help_text="e.g. Lung Cancer, Glioblastoma.")
    anatomic_sites = models.ManyToManyField(AnatomicSite, blank=True, related_name="proposals")
    modalities = models.ManyToManyField(Modality, blank=True, related_name="proposals")
    number_of_subjects = models.PositiveIntegerField(null=True, blank=True, help_text="Subjects (patients) offered.")
    promised_series = models.PositiveIntegerField(
        null=True, blank=True, help_text="Image series expected, if known. Feeds the completeness check after acceptance."
    )
    estimated_size_gb = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Estimated size of the images in GB."
    )
    description = models.TextField(blank=True, help_text="What the data are, how they were acquired.")
    clinical_data = models.TextField(blank=True, help_text="Clinical data offered with the images (or 'none').")
    analysis_results = models.TextField(
        blank=True, help_text="Analysis results offered: segmentations, annotations, radiomics (or 'none')."
    )
    data_quality = models.TextField(blank=True, help_text="Data-quality statement: completeness, protocols, known issues.")
    scientific_value = models.TextField(blank=True, help_text="Why these data matter scientifically.")
    reuse_potential = models.TextField(blank=True, help_text="Who could reuse the data, and for what.")
    license_requested = models.CharField(max_length=20, choices=License.choices, default=License.CC_BY_4)
    deidentification = models.CharField(
        max_length=20, choices=Deidentification.choices, default=Deidentification.IDENTIFIED,
        help_text="State of de-identification of the data as they are now.",
    )
    status = models.CharField(max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="First submission.")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When the latest decision was recorded.")
    # Frozen at acceptance, so later edits cannot move the goal posts of the completeness check.
    promised_subjects = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Subjects promised, fixed when the proposal is accepted."
    )
    collection = models.OneToOneField(
        Collection, null=True, blank=True, on_delete=models.PROTECT, related_name="proposal",
        help_text="The draft collection created on acceptance.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ProposalStatus.values), name="proposal_status_valid"),
            models.CheckConstraint(condition=Q(license_requested__in=License.values), name="proposal_license_valid"),
            models.CheckConstraint(
                condition=Q(deidentification__in=Deidentification.values), name="proposal_deidentification_valid"
            ),
            models.CheckConstraint(
                condition=Q(estimated_size_gb__isnull=True) | Q(estimated_size_gb__gte=0),
                name="proposal_size_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(status=ProposalStatus.DRAFT) | Q(submitted_at__isnull=False),
                name="proposal_submitted_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status=ProposalStatus.ACCEPTED) | Q(collection__isnull=False),
                name="proposal_accepted_has_collection",
            ),
        ]

    def __str__(self):
        return self.title or f"Proposal {self.pk}"

    def get_absolute_url(self):
        return reverse("proposals:detail", args=[self.pk])

    @property
    def is_editable(self):
        return self.status in EDITABLE_STATUSES

    @property
    def latest_decision(self):
        return self.decisions.order_by("-created_at", "-id").first()

    # Fields a proposal needs before the committee can read it.
    REQUIRED_FOR_SUBMISSION = (
        "title", "cancer_type", "number_of_subjects", "estimated_size_gb", "description", "clinical_data",
        "analysis_results", "data_quality", "scientific_value", "reuse_potential",
    )

    def submission_errors(self) -> dict:
        """What is missing before submission, field by field (an empty dict when complete)."""
        errors = {}
        for name in self.REQUIRED_FOR_SUBMISSION:
            value = getattr(self, name)
            if value is None or (isinstance(value, str) and not value.strip()):
                errors[name] = "Required before submitting."
        if self.pk is not None:
            if not self.modalities.exists():
                errors["modalities"] = "Choose at least one modality before submitting."
            if not self.anatomic_sites.exists():
                errors["anatomic_sites"] = "Choose at least one anatomic site before submitting."
        if self.number_of_subjects == 0:
            errors["number_of_subjects"] = "A proposal needs at least one subject."
        return errors


def attachment_path(instance, filename):
    return f"proposals/{instance.proposal_id}/{filename}"


class ProposalAttachment(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300, help_text="Stored in the 'default' storage.")
    name = models.CharField(max_length=200, help_text="File name as uploaded.")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes.")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("proposals:attachment", args=[self.proposal_id, self.pk])


class Question(models.Model):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="questions")
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(help_text="What the committee needs to know.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="question_text_nonempty")]

    def __str__(self):
        return f"Question {self.pk} on {self.proposal_id}"


class Answer(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(text=""), name="answer_text_nonempty")]

    def __str__(self):
        return f"Answer {self.pk} to question {self.question_id}"


SCORE_FIELDS = ("data_quality", "scientific_value", "reuse_potential")
SCORE_LABELS = {
    "data_quality": "Data quality",
    "scientific_value": "Scientific value",
    "reuse_potential": "Potential for reuse",
}


def _score_field(label):
    return models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=f"{label}, 1 (poor) to 5 (excellent)."
    )


class ImmutableError(Exception):
    """Raised when code tries to edit a score or decision in place."""


class Score(models.Model):
    """One member's scores for one proposal. Never edited: a change is a new row that supersedes this one."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="scores")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposal_scores")
    data_quality = _score_field("Data quality")
    scientific_value = _score_field("Scientific value")
    reuse_potential = _score_field("Potential for reuse")
    comment = models.TextField(blank=True, help_text="Reasons, for the other members and the chair.")
    created_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=True, help_text="False once a newer score by the same member replaces it.")
    superseded_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supersedes",
        help_text="The score that replaced this one.",
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            *[
                models.CheckConstraint(condition=Q(**{f"{f}__gte": 1, f"{f}__lte": 5}), name=f"score_{f}_1_to_5")
                for f in SCORE_FIELDS
            ],
            models.CheckConstraint(
                condition=Q(superseded_by__isnull=True) | Q(is_current=False), name="score_superseded_not_current"
            ),
            models.UniqueConstraint(
                fields=["proposal", "member"], condition=Q(is_current=True), name="score_one_current_per_member"
            ),
        ]

    def __str__(self):
        return f"{self.member} on {self.proposal_id}: {self.data_quality}/{self.scientific_value}/{self.reuse_potential}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableError("Scores are never edited; record a new score that supersedes this one.")
        super().save(*args, **kwargs)

    def weighted(self, weights: "Weights") -> float:
        return weights.apply(self.data_quality, self.scientific_value, self.reuse_potential)


class Outcome(models.TextChoices):
    ACCEPT = "accept", "Accept"
    REJECT = "reject", "Reject"
    DEFER = "defer", "Defer"
    NEEDS_INFORMATION = "needs_information", "Needs information"


OUTCOME_STATUS = {
    Outcome.ACCEPT: ProposalStatus.ACCEPTED,
    Outcome.REJECT: ProposalStatus.REJECTED,
    Outcome.DEFER: ProposalStatus.DEFERRED,
    Outcome.NEEDS_INFORMATION: ProposalStatus.NEEDS_INFORMATION,
}


class Decision(models.Model):
    """The chair's decision. Append-only; the latest one is in force."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="decisions")
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.TextField(help_text="Why; the submitter reads this.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=Outcome.values), name="decision_outcome_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="decision_reason_nonempty"),
        ]

    def __str__(self):
        return f"{self.get_outcome_display()} {self.proposal_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableError("Decisions are never edited; record a new decision.")
        super().save(*args, **kwargs)


class Weights:
    """Weights of the three score categories; the weighted score of one review is their weighted mean."""

    def __init__(self, data_quality, scientific_value, reuse_potential):
        self.data_quality = float(data_quality)
        self.scientific_value = float(scientific_value)
        self.reuse_potential = float(reuse_potential)

    @property
    def total(self):
        return self.data_quality + self.scientific_value + self.reuse_potential

    def apply(self, dq, sv, rp) -> float:
        return (self.data_quality * dq + self.scientific_value * sv + self.reuse_potential * rp) / self.total

    def as_dict(self):
        return {f: getattr(self, f) for f in SCORE_FIELDS}

    def __repr__(self):
        return f"Weights({self.data_quality}, {self.scientific_value}, {self.reuse_potential})"


def _weight_field(label):
    return models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("1.00"), validators=[MinValueValidator(0)],
        help_text=f"Weight of {label.lower()} in the weighted mean.",
    )


class ScoreWeights(models.Model):
    """The committee's weights, one row, edited in the admin. Without a row, settings.TCIA_SCORE_WEIGHTS
    (a dict with the three category names) applies, and without that, equal weights."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    data_quality = _weight_field("Data quality")
    scientific_value = _weight_field("Scientific value")
    reuse_potential = _weight_field("Potential for reuse")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "score weights"
        verbose_name_plural = "score weights"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="scoreweights_singleton"),
            models.CheckConstraint(
                condition=Q(data_quality__gte=0) & Q(scientific_value__gte=0) & Q(reuse_potential__gte=0),
                name="scoreweights_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(data_quality__gt=0) | Q(scientific_value__gt=0) | Q(reuse_potential__gt=0),
                name="scoreweights_not_all_zero",
            ),
        ]

    def __str__(self):
        return f"Weights {self.data_quality} / {self.scientific_value} / {self.reuse_potential}"

    def clean(self):
        if not (self.data_quality or self.scientific_value or self.reuse_potential):
            raise ValidationError("At least one weight must be above zero.")

    @classmethod
    def current(cls) -> Weights:
        row = cls.objects.filter(pk=1).first()
        if row is not None:
            return Weights(row.data_quality, row.scientific_value, row.reuse_potential)
        configured = getattr(settings, "TCIA_SCORE_WEIGHTS", None) or {}
        return Weights(*(configured.get(f, 1) for f in SCORE_FIELDS))


class NotificationKind(models.TextChoices):
    SUBMITTED = "submitted", "Proposal submitted"
    QUESTION = "question", "Question from the committee"
    ANSWER = "answer", "Answer from the submitter"
    DECISION = "decision", "Decision"


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="proposal_notifications")
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=NotificationKind.values), name="notification_kind_valid"),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread_idx")]

    def __str__(self):
        return self.text
