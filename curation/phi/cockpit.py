"""The PHI report's and the self-score's steps and events on the submission cockpit."""
from django.urls import reverse

from curation.cockpit import ATTENTION, BLOCKED, DONE, WAITING, Event, Step, plural


def phi_step(submission):
    from .gates import gate
    from .report import count_capped, value_rows
    from .services import signoff_status

    collection = submission.collection
    url = reverse("curation:phi:report", args=[collection.slug])
    rows = value_rows(collection)
    total, more = count_capped(rows, 100_000)
    if not total:
        return Step("phi", "PHI report", WAITING, "No values yet", url=url)
    likely, likely_more = count_capped(rows.filter(likely_phi=True, disposition=""), 100_000)
    status = signoff_status(collection)
    if status["signoff"] is None:
        signed = "not signed"
    elif status["valid"]:
        signed = f"signed by {status['signoff'].actor.get_username() if status['signoff'].actor else 'a curator'}"
    else:
        signed = "sign-off invalidated"
    summary = f"{total:,}{'+' if more else ''} value rows, {signed}"
    refusals = gate(collection)
    details = [message for message, _ in refusals]
    if likely:
        details.append(f"{likely:,}{'+' if likely_more else ''} likely PHI value{'s' if likely != 1 or likely_more else ''} "
                       "with no disposition")
    return Step("phi", "PHI report", BLOCKED if refusals else (ATTENTION if likely else DONE), summary, details, url)


def selfscore_step(submission):
    from .selfscore import self_score

    score = self_score(submission)
    if score.score is None:
        return Step("selfscore", "De-identification self-score", WAITING, "No files yet", url=score.url)
    details = [f"{c.label}: {c.failed:,} of {plural(c.items, 'item')} fail" for c in score.failing]
    summary = f"{score.score} % (publication needs {score.threshold} %)"
    return Step("selfscore", "De-identification self-score", DONE if score.ok and not details else
                (ATTENTION if score.ok else BLOCKED), summary, details, score.url)


def phi_events(submission):
    from .models import PhiSignoff

    return [Event(s.signed_at, "signoff", f"PHI report signed by {s.actor.get_username() if s.actor else 'a curator'}",
                  reverse("curation:phi:report", args=[submission.collection.slug]))
            for s in PhiSignoff.objects.filter(collection=submission.collection).select_related("actor")[:20]]
