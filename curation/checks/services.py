"""Services of the checks app: run checks into findings, waive, apply fixes and tag edits.

Every human decision (waive, fix, tag edit, undo) is audited here, in the same transaction
as the change it records.
"""
import logging

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from collections_app.models import Image, Subject
from curation.models import Correction
from curation.services import corrections as primitive
from tcia.core.audit import log

from . import engine
from .fixes import build_mutation, describe, select_images
from .models import CheckRun, CheckState, Finding, group_key_for

logger = logging.getLogger(__name__)
MAX_LINKED_IMAGES = 200


# ── running checks ─────────────────────────────────────────────────────────────────────────

def start_run(*, collection, actor=None, checks=None, dciodvfy_sample: str = "") -> CheckRun:
    """Queue a run (a django-q2 task, enqueued when the transaction commits). dciodvfy reads
    every file unless `dciodvfy_sample` asks for a sample ("one_per_series" or n per series)."""
    from django_q.tasks import async_task

    if dciodvfy_sample not in ("", "all", "one_per_series") and not str(dciodvfy_sample).isdigit():
        raise ValueError("The dciodvfy sample is every file, one per series, or a number of files per series.")
    run = CheckRun.objects.create(collection=collection, checks=list(checks or []), dciodvfy_sample=dciodvfy_sample,
                                  started_by=actor if getattr(actor, "is_authenticated", False) else None)
    log("checks.run_requested", actor=actor, obj=collection, run=run.pk, checks=run.checks,
        dciodvfy_sample=dciodvfy_sample or "all")
    transaction.on_commit(lambda: async_task("curation.checks.tasks.run_checks_task", run.pk,
                                             task_name=f"checks-{collection.slug}-{run.pk}"))
    return run


def run_checks(*, collection, actor=None, checks=None, run: CheckRun | None = None, progress=None,
               dciodvfy_sample=None) -> CheckRun:
    """Run `checks` (all by default) over the collection and reconcile findings."""
    names = list(checks or run and run.checks or engine.CHECKS)
    unknown = [n for n in names if n not in engine.CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s): {', '.join(unknown)}")
    if run is None:
        run = CheckRun.objects.create(collection=collection, checks=names,
                                      started_by=actor if getattr(actor, "is_authenticated", False) else None)
    file_count = collection.series.aggregate(n=Sum("image_count"))["n"] or 0
    sample = dciodvfy_sample if dciodvfy_sample is not None else (run.dciodvfy_sample or None)
    CheckRun.objects.filter(pk=run.pk).update(state=CheckRun.State.RUNNING, started_at=timezone.now(),
                                              total=file_count + len(names), done=0)

    def tick(n=1, label=None):
        updates = {"done": F("done") + n}
        if label:
            updates["current"] = label
        CheckRun.objects.filter(pk=run.pk).update(**updates)
        if progress:
            progress(n, label)

    try:
        CheckRun.objects.filter(pk=run.pk).update(current="reading file facts")
        computed = [0]

        def per_file():
            computed[0] += 1
            tick(1)

        ctx = engine.Context(collection, progress=per_file)
        if file_count > computed[0]:  # files whose facts were already known count as done at once
            tick(file_count - computed[0], "file facts read")
        if "dciodvfy" in names:  # one more step per file dciodvfy reads (a cached result is a quick one)
            chosen = sum(len(engine._sample(images, sample or engine.default_sample())) for images in ctx.by_series.values())
            CheckRun.objects.filter(pk=run.pk).update(total=F("total") + chosen)
        results = []
        for name in names:
            label, fn = engine.CHECKS[name]
            tick(0, label)
            if name == "dciodvfy":
                results.extend(fn(ctx, sample=sample, progress=lambda: tick(1)))
            else:
                results.extend(fn(ctx))
            tick(1, label)
        new, resolved = _reconcile(collection, run, names, results)
    except Exception as exc:
        # The curator sees a message and a retry; the log gets the exception's type (its text may
        # quote header values).
        logger.warning("check run %s failed (%s)", run.pk, type(exc).__name__)
        CheckRun.objects.filter(pk=run.pk).update(
            state=CheckRun.State.FAILED, finished_at=timezone.now(),
            error="The checks stopped before the end; the findings are those of the last complete run. Run them again.")
        raise
    open_count = Finding.objects.filter(collection=collection, status=Finding.Status.OPEN).count()
    CheckRun.objects.filter(pk=run.pk).update(state=CheckRun.State.DONE, finished_at=timezone.now(), found=open_count,
                                              new=new, resolved=resolved, current="")
    if set(names) >= set(engine.CHECKS):
        CheckState.objects.update_or_create(collection=collection, defaults={
            "stale": _changed_since(collection, run), "last_run": run, "stale_reason": ""})
    else:
        CheckState.objects.get_or_create(collection=collection)
    run.refresh_from_db()
    return run


def _changed_since(collection, run) -> bool:
    """True when a file arrived while the run was going (the hook marked the state stale after start)."""
    state = CheckState.objects.filter(collection=collection).first()
    return bool(state and state.stale and state.stale_since and run.started_at and state.stale_since > run.started_at)


def _reconcile(collection, run, names, results) -> tuple[int, int]:
    now = timezone.now()
    new = resolved = 0
    seen = set()
    CheckState.objects.get_or_create(collection=collection)
    names_in_messages = set(Subject.objects.filter(collection=collection).values_list("patient_id", flat=True))
    with transaction.atomic():
        # Two runs of one collection reconcile one after the other (the row lock), so both see
        # each other's findings and neither inserts a fingerprint the other has just inserted.
        CheckState.objects.select_for_update().filter(collection=collection).first()
        existing = {f.fingerprint: f for f in Finding.objects.filter(collection=collection, check_name__in=names)}
        for data in results:
            fp = data.fingerprint
            if fp in seen:
                continue
            seen.add(fp)
            template = (data.template or engine.message_template(data.message, names_in_messages))[:300]
            values = dict(
                check_name=data.check, severity=data.severity, scope=data.scope, message=data.message,
                template=template, group_key=group_key_for(data.check, template),
                subject=data.subject, study=data.study, series=data.series, uids=data.uids, details=data.details,
                fix=data.fix, fix_label=data.fix_label, last_run=run,
            )
            finding = existing.get(fp)
            if finding is None:
                finding = Finding.objects.create(collection=collection, fingerprint=fp, first_run=run, **values)
                new += 1
            else:
                for k, v in values.items():
                    setattr(finding, k, v)
                if finding.status == Finding.Status.FIXED:
                    finding.status = Finding.Status.OPEN
                    finding.status_reason = f"found again by run {run.pk}"
                    finding.status_at = now
                    finding.status_by = None
                finding.save()
            finding.images.set([i.pk for i in data.images[:MAX_LINKED_IMAGES]])
        for fp, finding in existing.items():
            if fp not in seen and finding.status == Finding.Status.OPEN:
                Finding.objects.filter(pk=finding.pk).update(
                    status=Finding.Status.FIXED, status_reason=f"no longer found by run {run.pk}", status_at=now,
                    status_by=None, last_run=run)
                resolved += 1
    return new, resolved


def mark_stale(collection, reason: str):
    """Findings are older than the data from now on: one statement (an upsert that leaves an
    already stale state, its time and reason, as they are)."""
    now = timezone.now()
    collection_id = collection if isinstance(collection, int) else collection.pk
    table = CheckState._meta.db_table
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {table} (collection_id, stale, stale_since, stale_reason) VALUES (%s, %s, %s, %s) "
                    f"ON CONFLICT (collection_id) DO UPDATE SET stale = excluded.stale, "
                    f"stale_since = excluded.stale_since, stale_reason = excluded.stale_reason "
                    f"WHERE {table}.stale = %s",
                    [collection_id, True, connection.ops.adapt_datetimefield_value(now), reason[:200], False])


# ── decisions on findings ──────────────────────────────────────────────────────────────────

def waive(*, findings, actor, reason: str) -> int:
    if not reason.strip():
        raise ValueError("Waiving needs a reason.")
    findings = list(findings)
    now = timezone.now()
    with transaction.atomic():
        for finding in findings:
            Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.WAIVED, status_reason=reason, status_by=actor,
                                                         status_at=now)
            log("finding.waived", actor=actor, obj=finding, reason=reason, check=finding.check_name,
                message=finding.message[:300])
    return len(findings)


def reopen(*, finding, actor, reason: str):
    with transaction.atomic():
        Finding.objects.filter(pk=finding.pk).update(status=Finding.Status.OPEN, status_reason=reason, status_by=actor,
                                                     status_at=timezone.now())
        log("finding.reopened", actor=actor, obj=finding, reason=reason)


def start_correction(*, collection, spec: dict, actor, reason: str, kind: str, summary: str = "", scope: str = "",
                     on_applied=None) -> Correction:
    """Create a correction from a spec and run it as a task once the transaction commits."""
    build_mutation(spec)  # refuse a malformed spec now, not in the worker
    total = select_images(collection, spec).count()
    if total == 0:
        raise ValueError("The correction selects no images.")
    correction = primitive.create_correction(
        collection=collection, kind=kind, summary=summary or describe(spec), reason=reason, actor=actor,
        scope=scope or (spec.get("select") or {}).get("scope", "images"), spec=spec, total=total,
    )
    transaction.on_commit(lambda: _queue_correction(correction.pk, f"correction-{correction.pk}"))
    return correction


NOT_QUEUED = "The correction could not be started, so nothing was changed. Retry it."


def _queue_correction(correction_id: int, task_name: str):
    """Hand a correction to the queue after the commit. With TCIA_Q_SYNC=1 the task runs right
    here, in the request: whatever goes wrong around it (the queue's own bookkeeping included)
    leaves the correction failed with a message, never an error page."""
    from django_q.tasks import async_task

    try:
        async_task("curation.checks.tasks.run_correction_task", correction_id, task_name=task_name)
    except Exception as exc:  # noqa: BLE001 - the curator gets a message and a retry
        logger.warning("correction %s could not be queued (%s)", correction_id, type(exc).__name__)
        Correction.objects.filter(pk=correction_id, state__in=[Correction.State.PENDING, Correction.State.RUNNING])\
            .update(state=Correction.State.FAILED, error=NOT_QUEUED, finished_at=timezone.now())


def run_spec_correction(correction_id: int) -> Correction:
    """Task body: run a correction from its stored spec. Safe to run twice (an image already
    changed produces no change the second time)."""
    correction = Correction.objects.select_related("collection").get(pk=correction_id)
    if correction.state == Correction.State.APPLIED:
        return correction
    spec = correction.spec
    try:
        mutate = build_mutation(spec)
        images = select_images(correction.collection, spec)
    except (KeyError, ValueError) as exc:
        raise primitive.mark_failed(correction, exc, []) from exc
    result = primitive.run_correction(correction, images.iterator(), mutate)
    finding_ids = spec.get("findings") or []
    if finding_ids:
        Finding.objects.filter(pk__in=finding_ids).update(
            status=Finding.Status.FIXED, status_reason=f"fixed by correction {correction.pk}", correction=correction,
            status_by=correction.actor, status_at=timezone.now())
    return result


def apply_fix(*, finding: Finding, actor, reason: str) -> Correction:
    if not finding.fix:
        raise ValueError("This finding has no proposed fix.")
    spec = dict(finding.fix, findings=[finding.pk])
    with transaction.atomic():
        correction = start_correction(collection=finding.collection, spec=spec, actor=actor, reason=reason,
                                      kind=Correction.Kind.FIX, summary=finding.fix_label or describe(spec),
                                      scope=finding.scope)
        log("finding.fix_applied", actor=actor, obj=finding, reason=reason, correction=correction.pk, spec=spec)
    return correction


def fixes_spec(findings) -> tuple[dict | None, list[Finding]]:
    """One spec for the proposed fixes of the open findings among `findings` (a batch when
    there are several), and those findings."""
    fixable = [f for f in findings if f.fix and f.status == Finding.Status.OPEN]
    if not fixable:
        return None, []
    if len(fixable) == 1:
        return dict(fixable[0].fix, findings=[fixable[0].pk]), fixable
    collection = fixable[0].collection
    specs = []
    for f in fixable:
        sub = dict(f.fix)
        if sub.get("images") is None:
            sub["images"] = list(select_images(collection, sub).values_list("pk", flat=True))
            sub.pop("select", None)
        specs.append(sub)
    return {"op": "batch", "specs": specs, "findings": [f.pk for f in fixable]}, fixable


def apply_fixes(*, findings, actor, reason: str) -> list[Correction]:
    """The proposed fixes of the selected open findings as one correction (all or nothing)."""
    spec, fixable = fixes_spec(findings)
    if spec is None:
        return []
    if len(fixable) == 1:
        return [apply_fix(finding=fixable[0], actor=actor, reason=reason)]
    templates = sorted({f.template or f.check_name for f in fixable})
    summary = f"{len(fixable)} proposed fixes: " + "; ".join(templates)[:250]
    with transaction.atomic():
        correction = start_correction(collection=fixable[0].collection, spec=spec, actor=actor, reason=reason,
                                      kind=Correction.Kind.FIX, summary=summary, scope="findings")
        for finding in fixable:
            log("finding.fix_applied", actor=actor, obj=finding, reason=reason, correction=correction.pk,
                spec=finding.fix)
    return [correction]


def tag_edit(*, collection, scope: str, pk: int, path: str, value: str, delete: bool, actor, reason: str) -> Correction:
    spec = {"op": "delete" if delete else "set", "path": path, "select": {"scope": scope, "pk": pk}}
    if not delete:
        spec["value"] = value
    with transaction.atomic():
        correction = start_correction(collection=collection, spec=spec, actor=actor, reason=reason,
                                      kind=Correction.Kind.TAG_EDIT, scope=f"{scope} {pk}")
        log("correction.requested", actor=actor, obj=correction, reason=reason, spec=spec)
    return correction


def preview(*, collection, spec: dict, limit: int = 100) -> dict:
    """Dry run on up to `limit` files: which files change, tag path, old → new. Nothing is written."""
    mutate = build_mutation(spec)
    images = select_images(collection, spec)
    total = images.count()
    rows = []
    unchanged = 0
    for image in images[:limit]:
        ds = primitive.read_image_dataset(image)
        changes = mutate(ds, image)
        if changes:
            rows.append({"image": image, "changes": changes})
        else:
            unchanged += 1
    return {"total": total, "rows": rows, "checked": min(total, limit), "unchanged": unchanged}


def retry_correction(*, correction: Correction, actor) -> Correction:
    """Queue a failed correction again (it switched nothing, so it starts afresh)."""
    if correction.state != Correction.State.FAILED:
        raise ValueError("Only a failed correction can be retried.")
    if not (correction.spec or {}).get("op"):
        raise ValueError("This correction was not made from a spec; make it again from where it started.")
    with transaction.atomic():
        Correction.objects.filter(pk=correction.pk).update(state=Correction.State.PENDING, done=0)
        log("correction.retried", actor=actor, obj=correction, reason=correction.reason)
        transaction.on_commit(lambda: _queue_correction(correction.pk, f"correction-{correction.pk}-retry"))
    correction.refresh_from_db()
    return correction


def start_undo(*, correction: Correction, actor, reason: str):
    from django_q.tasks import async_task

    if not reason.strip():
        raise ValueError("An undo needs a reason.")
    if correction.state != Correction.State.APPLIED:
        raise ValueError("Only an applied correction can be undone.")
    log("correction.undo_requested", actor=actor, obj=correction, reason=reason)
    actor_id = actor.pk if actor else None
    transaction.on_commit(lambda: async_task("curation.checks.tasks.undo_task", correction.pk, actor_id, reason,
                                             task_name=f"undo-{correction.pk}"))


def history(*, images) -> list[dict]:
    """Corrections that touched `images` (a queryset), newest first, with their file records."""
    from curation.models import CorrectionFile

    records = (CorrectionFile.objects.filter(image__in=images)
               .select_related("correction__actor", "image", "old_file", "new_file")
               .order_by("-correction__created_at", "-correction_id", "id"))
    grouped = {}
    for record in records[:2000]:
        entry = grouped.setdefault(record.correction_id, {"correction": record.correction, "files": []})
        entry["files"].append(record)
    return list(grouped.values())


def images_for(kind: str, obj) -> "Image.objects":
    field = {"image": "pk", "series": "series", "study": "series__study", "subject": "series__subject",
             "collection": "series__collection"}[kind]
    return Image.objects.filter(**{field: obj.pk if kind == "image" else obj})
