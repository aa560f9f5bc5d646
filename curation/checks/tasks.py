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
    from .services import run_spec_correction

    correction = run_spec_correction(correction_id)
    return {"correction": correction.pk, "files": correction.files.count()}


def undo_task(correction_id: int, actor_id, reason: str):
    from django.contrib.auth import get_user_model

    from curation.models import Correction
    from curation.services.corrections import undo

    correction = Correction.objects.get(pk=correction_id)
    if correction.undone_by.filter(state=Correction.State.APPLIED).exists():
        return {"already": True}
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    reverse = undo(correction=correction, actor=actor, reason=reason)
    return {"undo": reverse.pk}
