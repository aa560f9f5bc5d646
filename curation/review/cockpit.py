"""Visual review's step and events on the submission cockpit (registered in apps.py)."""
from django.db.models import Count, F, Q, Sum
from django.urls import reverse

from curation.cockpit import ATTENTION, BLOCKED, DONE, WAITING, Event, Step, plural


def review_step(submission):
    from .gates import publish_gate
    from .models import ImageClass

    collection = submission.collection
    url = reverse("curation:review:collection", args=[collection.slug])
    agg = ImageClass.objects.filter(collection=collection, image_count__gt=0).aggregate(
        classes=Count("id"), done=Count("id", filter=Q(reviewed__gte=F("image_count"))),
        images=Sum("image_count"), reviewed=Sum("reviewed"), flagged=Sum("flagged"))
    classes, images = agg["classes"] or 0, agg["images"] or 0
    if not collection.image_count:
        return Step("review", "Visual review", WAITING, "No images yet", url=url)
    summary = (f"{agg['done']:,} of {plural(classes, 'class', 'classes')} and {agg['reviewed'] or 0:,} of "
               f"{plural(images, 'image')} reviewed")
    refusals = publish_gate(collection)
    details = [f.message for f in refusals]
    if agg["flagged"]:
        details.append(f"{plural(agg['flagged'], 'image')} judged other than good")
    refused = bool(refusals)
    return Step("review", "Visual review", BLOCKED if refused else (ATTENTION if agg["flagged"] else DONE),
                summary, details, url)


def review_events(submission):
    from .models import ClassVerdict

    out = []
    for v in ClassVerdict.objects.filter(collection=submission.collection).select_related("actor")[:30]:
        who = v.actor.get_username() if v.actor else "someone"
        out.append(Event(v.created_at, "review", f"{who} judged a class of {plural(v.images, 'image')}: {v.get_verdict_display()}"))
    return out
