"""Services of the PHI report: curator marks, applying them as corrections, sign-off."""
from django.db import transaction
from django.db.models import Q

from collections_app.models import Image
from curation.models import Correction
from tcia.core.audit import log

from . import report
from .models import PhiMark, PhiReportState, PhiSignoff, PhiValue

ACTIONS = {a.value for a in PhiMark.Action}


def mark(*, values, action: str, argument: str = "", actor, reason: str = "") -> int:
    """Record a disposition for each value (append-only; the newest mark counts)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown disposition {action!r}")
    if action == "shift":
        try:
            int(argument)
        except ValueError:
            raise ValueError("Shift needs a whole number of days.") from None
    values = list(values)
    with transaction.atomic():
        for value in values:
            PhiMark.objects.create(value=value, action=action, argument=argument[:200], reason=reason, actor=actor)
            PhiValue.objects.filter(pk=value.pk).update(disposition=action, disposition_arg=argument[:200])
        if values:
            log("phi.marked", actor=actor, obj=values[0].collection, reason=reason, disposition=action, argument=argument,
                values=[{"tag_path": v.tag_path, "vr": v.vr, "value": v.value[:200]} for v in values[:500]],
                count=len(values))
    return len(values)


def pending_marks(collection):
    """Marked values that still need an edit (not keep, value still present)."""
    return report.value_rows(collection).exclude(disposition="").exclude(disposition="keep")


def apply_marks(*, collection, actor, reason: str) -> Correction | None:
    """Turn the pending marks into one correction (kind "phi"), run as a task."""
    from curation.checks.services import start_correction

    values = list(pending_marks(collection))
    if not values:
        return None
    rules = [{"path": v.tag_path, "vr": v.vr, "value": v.value, "action": v.disposition, "arg": v.disposition_arg}
             for v in values if len(v.value) < report.MAX_VALUE]
    series_ids = set(report.PhiSeriesValue.objects.filter(value_id__in=[v.pk for v in values])
                     .values_list("series_id", flat=True))
    images = list(Image.objects.filter(series__collection=collection, series_id__in=series_ids).values_list("pk", flat=True))
    spec = {"op": "phi", "rules": rules, "images": images}
    with transaction.atomic():
        correction = start_correction(collection=collection, spec=spec, actor=actor, reason=reason, kind=Correction.Kind.PHI,
                                      summary=f"PHI report: {len(rules)} value disposition(s)", scope="collection")
        marks = [v.marks.first() for v in values]
        PhiMark.objects.filter(pk__in=[m.pk for m in marks if m]).update(correction=correction)
        log("phi.dispositions_applied", actor=actor, obj=correction, reason=reason, rules=rules[:500], files=len(images))
    return correction


class SignOffRefused(ValueError):
    """The report has work left that the signature would cover (a flagged section item undecided)."""


def sign_off(*, collection, actor, statement: str = "") -> PhiSignoff:
    undecided = [(s.title, s.pending) for s in report.sections(collection) if s.pending]
    if undecided:
        raise SignOffRefused("Decide every flagged item first: " + "; ".join(
            f"{title}: {n} flagged item{'s' if n != 1 else ''} without a disposition" for title, n in undecided) + ".")
    with transaction.atomic():
        report.flush(collection.pk)  # pending files first: the signature covers them
        state, _ = PhiReportState.objects.select_for_update().get_or_create(collection=collection)
        digest, rows = report.digest(collection)
        signoff = PhiSignoff.objects.create(collection=collection, actor=actor, digest=digest, rows=rows,
                                            generation=state.generation, statement=statement)
        PhiReportState.objects.filter(pk=state.pk).update(first_change_after_signoff="", first_change_after_signoff_at=None)
        log("phi.signed_off", actor=actor, obj=collection, reason=statement, signoff=signoff.pk, digest=digest, rows=rows,
            generation=state.generation)
    return signoff


def signoff_status(collection) -> dict:
    """{signoff, valid, invalidated_by, invalidated_at} for the latest sign-off."""
    report.flush(collection.pk)  # a file still pending is a change too
    signoff = PhiSignoff.objects.filter(collection=collection).select_related("actor").first()
    if signoff is None:
        return {"signoff": None, "valid": False, "invalidated_by": "", "invalidated_at": None}
    state = PhiReportState.objects.filter(collection=collection).first()
    generation = state.generation if state else 0
    valid = generation == signoff.generation
    return {
        "signoff": signoff, "valid": valid,
        "invalidated_by": "" if valid else (state.first_change_after_signoff or state.last_change or "a later change"),
        "invalidated_at": None if valid else (state.first_change_after_signoff_at or state.last_change_at),
    }


def search_hint(q):
    return Q(value__icontains=q) if q else Q()
