"""Publication gate: every image class is reviewed (each of its images has a verdict), every
image has a verdict, and no image flagged for masking is left unmasked. `gate(collection)` returns (message, url) pairs; `publish_gate` adapts them to
collections_app.services.publish's GateFailure (registered in ReviewConfig.ready)."""
from django.db.models import Q
from django.urls import reverse

from collections_app.models import Image

from .models import ImageClass, Verdict


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def gate(collection) -> list[tuple[str, str]]:
    url = reverse("curation:review:collection", args=[collection.slug])
    images = Image.objects.filter(series__collection=collection)
    total = images.count()
    if not total:
        return []
    failures = []
    # counted from the verdicts, not the cached class counts, so a stale count cannot open the gate
    classes = ImageClass.objects.filter(collection=collection, image_count__gt=0)
    n_classes = classes.count()
    open_classes = classes.filter(members__image__in=images.exclude(review_verdicts__current=True)).distinct().count()
    loose = images.filter(review_class__isnull=True).count()
    if open_classes or loose:
        what = (f"{open_classes} of {_plural(n_classes, 'image class', 'image classes')} "
                f"{'is' if open_classes == 1 else 'are'} not reviewed")
        if loose:
            what += f", and {_plural(loose, 'image', 'images')} in no class yet (open the review page to group them)"
        failures.append((what + " (every class must be reviewed).", url))
    unreviewed = images.exclude(review_verdicts__current=True).count()
    if unreviewed:
        failures.append((f"{unreviewed} of {_plural(total, 'image', 'images')} {'has' if unreviewed == 1 else 'have'} no review verdict (every image must be reviewed).", url))
    # a mask whose correction was undone no longer protects the image
    unmasked = (Verdict.objects.filter(collection=collection, current=True, verdict=Verdict.Kind.PHI)
                .filter(Q(masked_by__isnull=True) | Q(masked_by__undone_by__isnull=False))
                .values("pk").distinct().count())
    if unmasked:
        failures.append((f"{_plural(unmasked, 'image', 'images')} flagged for masking {'is' if unmasked == 1 else 'are'} not masked.", url))
    return failures


def publish_gate(collection):
    from collections_app.services.publish import GateFailure

    return [GateFailure(message, url) for message, url in gate(collection)]
