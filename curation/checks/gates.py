"""Publication gate: no open error finding, and checks not older than the data."""
from django.urls import reverse


def gate(collection) -> list[tuple[str, str]]:
    from .models import CheckState, Finding

    url = reverse("checks:findings", args=[collection.slug])
    out = []
    state = CheckState.objects.filter(collection=collection).select_related("last_run").first()
    if state is None or state.last_run_id is None:
        out.append(("Curation checks have never been run on this collection.", url))
    elif state.stale:
        out.append((f"Curation checks are out of date ({state.stale_reason or 'data changed'}); run them again.", url))
    errors = Finding.objects.filter(collection=collection, status=Finding.Status.OPEN, severity=Finding.Severity.ERROR).count()
    if errors:
        out.append((f"{errors} open error finding{'s' if errors != 1 else ''}: fix or waive them.",
                    f"{url}?status=open&severity=error"))
    return out
