"""Publication gate: no open error finding."""
from django.urls import reverse


def gate(collection) -> list[tuple[str, str]]:
    from .models import Finding

    url = reverse("curation:checks:findings", args=[collection.slug])
    out = []
    errors = Finding.objects.filter(collection=collection, status=Finding.Status.OPEN, severity=Finding.Severity.ERROR).count()
    if errors:
        out.append((f"{errors} open error finding{'s' if errors != 1 else ''}: fix or waive them.",
                    f"{url}?status=open&severity=error"))
    return out
