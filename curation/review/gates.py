"""Publication gate: every image has a verdict, and no image flagged with burned-in PHI is
left unmasked. `gate(collection)` returns (message, url) pairs; `publish_gate` adapts them to
collections_app.services.publish's GateFailure (registered in ReviewConfig.ready)."""
from django.db.models import Q
from django.urls import reverse

from collections_app.models import Image

from .models import Verdict


def gate(collection) -> list[tuple[str, str]]:
    url = reverse("curation:review:collection", args=[collection.slug])
    images = Image.objects.filter(series__collection=collection)
    total = images.count()
    if not total:
        return []
    unreviewed = images.exclude(review_verdicts__current=True).count()
    failures = []
    if unreviewed:
        failures.append((f"{unreviewed} of {total} images have no review verdict (every image must be reviewed).", url))
    # a mask whose correction was undone no longer protects the image
    unmasked = (Verdict.objects.filter(collection=collection, current=True, verdict=Verdict.Kind.PHI)
                .filter(Q(masked_by__isnull=True) | Q(masked_by__undone_by__isnull=False))
                .values("pk").distinct().count())
    if unmasked:
        failures.append((f"{unmasked} images flagged with burned-in PHI are not masked.", url))
    return failures


def publish_gate(collection):
    from collections_app.services.publish import GateFailure

    return [GateFailure(message, url) for message, url in gate(collection)]
