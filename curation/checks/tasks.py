"""django-q2 tasks of the checks app. They take primary keys and are safe to run twice."""


def run_checks_task(run_id: int):
    from .models import CheckRun
    from .services import run_checks

    run = CheckRun.objects.select_related("collection").get(pk=run_id)
    if run.state == CheckRun.State.DONE:
        return {"run": run.pk, "open": run.found}
    run = run_checks(collection=run.collection, actor=run.started_by, run=run)
    return {"run": run.pk, "open": run.found, "new": run.new, "resolved": run.resolved}


def run_correction_task(correction_id: int):
    """A failed correction switched nothing and says why on its page; it is not retried by the
    queue (the curator retries it), so the task ends normally."""
    from curation.services.corrections import CorrectionFailed

    from .services import run_spec_correction

    try:
        correction = run_spec_correction(correction_id)
    except CorrectionFailed as exc:
        return {"correction": correction_id, "failed": exc.message}
    return {"correction": correction.pk, "files": correction.files.count()}


def undo_task(correction_id: int, actor_id, reason: str):
    from django.contrib.auth import get_user_model

    from curation.models import Correction
    from curation.services.corrections import CorrectionFailed, undo

    correction = Correction.objects.get(pk=correction_id)
    if correction.undone_by.filter(state=Correction.State.APPLIED).exists():
        return {"already": True}
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        reverse = undo(correction=correction, actor=actor, reason=reason)
    except CorrectionFailed as exc:
        return {"undo_of": correction_id, "failed": exc.message}
    return {"undo": reverse.pk}
