"""Publication gate: the PHI report is signed off and nothing changed since."""
from django.urls import reverse


def gate(collection) -> list[tuple[str, str]]:
    from .services import signoff_status

    from curation.models import Submission

    if not Submission.objects.filter(collection=collection).exists():
        return []  # nothing came through intake (e.g. demo data): there is no report to sign
    url = reverse("curation:phi:report", args=[collection.slug])
    status = signoff_status(collection)
    if status["signoff"] is None:
        return [("The PHI report has not been signed off.", url)]
    if not status["valid"]:
        return [(f"The PHI report sign-off was invalidated by {status['invalidated_by']}; review and sign again.", url)]
    return []
