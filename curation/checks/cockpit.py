"""The checks' step and events on the submission cockpit (registered in apps.py)."""
from django.db.models import Count
from django.urls import reverse

from curation.cockpit import ATTENTION, BLOCKED, DONE, WAITING, Event, Step, plural


def checks_step(submission):
    from .models import CheckRun, Finding

    collection = submission.collection
    url = reverse("curation:checks:findings", args=[collection.slug])
    last = CheckRun.objects.filter(collection=collection).order_by("-created_at", "-id").first()
    open_counts = dict(Finding.objects.filter(collection=collection, status=Finding.Status.OPEN)
                       .values_list("severity").annotate(n=Count("id")))
    errors, warnings = open_counts.get("error", 0), open_counts.get("warning", 0)
    if last is None:
        return Step("checks", "Checks", WAITING, "Not run yet", url=url)
    details = []
    if last.state in (CheckRun.State.PENDING, CheckRun.State.RUNNING):
        details.append("A check run is in progress")
    elif last.state == CheckRun.State.FAILED:
        details.append("The last check run failed: run the checks again")
    state = BLOCKED if errors else (ATTENTION if warnings or details else DONE)
    summary = f"{plural(errors, 'open error')}, {plural(warnings, 'open warning')}"
    return Step("checks", "Checks", state, summary, details, url)


def checks_events(submission):
    from .models import CheckRun

    return [Event(r.created_at, "checks", f"Checks run ({r.get_state_display().lower()})",
                  reverse("curation:checks:findings", args=[submission.collection.slug]))
            for r in CheckRun.objects.filter(collection=submission.collection).order_by("-created_at")[:20]]
