"""Researchers' reports of problems with a collection, curators' answers, and the errata they
publish. A reporter's name and e-mail are personal data: curators see them (to answer), public
pages never do."""
from django.conf import settings
from django.db import models
from django.db.models import Q


class Category(models.TextChoices):
    DATA = "data", "Wrong, missing or damaged images"
    PHI = "phi", "Possible personal information (PHI) in images or metadata"
    METADATA = "metadata", "Wrong description, labels or metadata"
    DOWNLOAD = "download", "A download does not work"
    OTHER = "other", "Something else"


class ProblemReport(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    collection = models.ForeignKey("collections_app.Collection", on_delete=models.PROTECT, related_name="problem_reports")
    version = models.ForeignKey("collections_app.CollectionVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", help_text="The version the reporter was looking at, if named.")
    series = models.ForeignKey("collections_app.Series", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                               help_text="The series named by its UID, when it is one of the collection's.")
    series_uid = models.CharField(max_length=64, blank=True, help_text="The Series Instance UID as the reporter gave it.")
    category = models.CharField(max_length=10, choices=Category.choices)
    message = models.TextField(max_length=5000)
    page = models.CharField(max_length=12, blank=True, help_text="Where the report was sent from: collection or landing.")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reporter_name = models.CharField(max_length=200, blank=True, help_text="Personal data: curators only.")
    reporter_email = models.EmailField(blank=True, help_text="Personal data: curators only, used only to answer the report.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    finding = models.ForeignKey("checks.Finding", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                help_text="The finding the report led to.")
    correction = models.ForeignKey("curation.Correction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   help_text="The correction the report led to.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["open", "answered", "closed"]), name="report_state_valid"),
            models.CheckConstraint(condition=Q(category__in=["data", "phi", "metadata", "download", "other"]),
                                   name="report_category_valid"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="report_queue_idx")]

    def __str__(self):
        return f"report {self.pk} on {self.collection_id}"

    @property
    def answer_to(self) -> str:
        """Where an answer goes: the address given, else the account's."""
        if self.reporter_email:
            return self.reporter_email
        return getattr(self.reporter, "email", "") if self.reporter_id else ""


class ReportReply(models.Model):
    """A curator's answer, append-only (a later answer supersedes, nothing is edited)."""

    report = models.ForeignKey(ProblemReport, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=10000)
    emailed_to_reporter = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class ErratumQuerySet(models.QuerySet):
    def shown(self):
        return self.filter(withdrawn_at__isnull=True)


class Erratum(models.Model):
    """A published correction notice, shown on the collection page and the landing pages."""

    collection = models.ForeignKey("collections_app.Collection", on_delete=models.PROTECT, related_name="errata")
    version = models.ForeignKey("collections_app.CollectionVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="errata", help_text="The version it concerns; empty: the whole collection.")
    report = models.ForeignKey(ProblemReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="errata")
    text = models.TextField(max_length=5000)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = ErratumQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-pk"]

    def __str__(self):
        return f"erratum {self.pk} on {self.collection_id}"
