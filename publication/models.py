"""A curator's publication metadata before it is applied: previewed, then confirmed."""
from django.conf import settings
from django.db import models

from collections_app.models import Collection


class PublicationDraft(models.Model):
    """Publication metadata entered on the publish page and not yet applied (publication.metadata
    shape). Nothing public reads it; publishing applies it. `digest` names exactly what was
    previewed, so the confirmation publishes that and nothing else."""

    collection = models.OneToOneField(Collection, on_delete=models.CASCADE, related_name="publication_draft")
    data = models.JSONField(default=dict)
    major = models.BooleanField(default=True, help_text="A major release gets its own version DOI.")
    digest = models.CharField(max_length=64, help_text="sha256 of the canonical JSON of data and major.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Draft publication metadata of {self.collection}"
