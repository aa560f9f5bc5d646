"""Staged intake: received files wait in the quarantine storage until a worker takes them.

Browser uploads (in chunks), the DICOM receiver and retries stage files (`stage`) into a batch
and queue `process_batch`, which any django-q2 worker on any machine may run. A batch is taken
by one process at a time under a lease (`lease_owner`, `lease_until`), renewed as it goes:

* a file is taken when an item names it, in the same transaction as its image, so a worker
  killed mid-batch (`kill -9`) leaves every file taken or waiting, and the next one goes on
  where it stopped — no file twice, none missing;
* a new worker takes over once the lease has expired, or at once when the holder is a process of
  this machine that no longer exists (`resume_stalled`, run when a worker starts and every minute);
* a batch stays open while files may still arrive (a chunked upload, an association), and is
  finished (batch-end hooks, statistics) once it is closed and nothing waits.

Failed and rejected files whose original was kept can be retried (`retry`): each becomes a new
staged file of the same batch, and its item supersedes the old one.
"""
import datetime as dt
import logging
import os
import secrets
import socket

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from tcia.core.audit import log

from ..models import IntakeBatch, IntakeItem, QuarantinedFile, StagedFile, Submission
from .intake import Intake

logger = logging.getLogger(__name__)
_TOKEN = secrets.token_hex(4)
CURRENT = Q(superseded_by__isnull=True)


def lease_seconds() -> int:
    return int(getattr(settings, "TCIA_INTAKE_LEASE_SECONDS", 120))


def idle_close_seconds() -> int:
    return int(getattr(settings, "TCIA_INTAKE_IDLE_CLOSE_SECONDS", 1800))


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


def _owner_dead(owner: str) -> bool:
    """True when `owner` is a process of this machine that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return owner != owner_id()
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# ── receiving ─────────────────────────────────────────────────────────────────────────────

def open_batch(*, submission: Submission, source: str, actor=None, label: str = "", closed: bool = False) -> IntakeBatch:
    return IntakeBatch.objects.create(
        submission=submission, source=source, created_by=actor if getattr(actor, "is_authenticated", False) else None,
        label=label[:200], closed=closed,
    )


def _durable_save(name: str, content) -> str:
    """Save into the quarantine storage; on a local disk, fsync before saying it is received."""
    storage = storages["quarantine"]
    saved = storage.save(name, content)
    try:
        path = storage.path(saved)
    except NotImplementedError:  # object storage: a completed PUT is durable
        return saved
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return saved


def stage(batch: IntakeBatch, *, name: str | None, data: bytes | None = None, fileobj=None, client_key: str = "",
          retry_of: IntakeItem | None = None, position: int | None = None) -> StagedFile:
    """Keep one received file for a worker. With `client_key`, staging the same key again (a
    chunk resent after a network error) returns the file staged before. `name` None: named by
    its position ("C-STORE #n"); `position`: the caller counts (one association, one batch)."""
    if client_key:
        existing = StagedFile.objects.filter(batch=batch, client_key=client_key[:200]).first()
        if existing is not None:
            return existing
    content = ContentFile(data) if data is not None else File(fileobj)
    size = len(data) if data is not None else getattr(fileobj, "size", None)
    storage_name = _durable_save(f"incoming/{batch.pk}/{secrets.token_hex(12)}", content)
    if size is None:
        size = storages["quarantine"].size(storage_name)
    for _ in range(50):
        if position is None:
            position = (StagedFile.objects.filter(batch=batch).aggregate(n=Max("position"))["n"] or 0) + 1
        label = name if name is not None else f"C-STORE #{position}"
        try:
            with transaction.atomic():
                staged = StagedFile.objects.create(batch=batch, position=position, name=label[:500], storage_name=storage_name,
                                                   size=size, client_key=client_key[:200], retry_of=retry_of)
                IntakeBatch.objects.filter(pk=batch.pk).update(total=F("total") + 1)
                return staged
        except IntegrityError:
            position = None
            if client_key:
                existing = StagedFile.objects.filter(batch=batch, client_key=client_key[:200]).first()
                if existing is not None:
                    storages["quarantine"].delete(storage_name)
                    return existing
    raise RuntimeError(f"could not stage a file into batch {batch.pk}")


def reject_unstaged(batch: IntakeBatch, *, name: str, reason: str, size: int = 0, head: bytes = b"") -> IntakeItem:
    """A file refused before it was staged (empty, over a limit while receiving): recorded as a
    rejected item of the batch with what was seen of it (its first bytes), never its whole content."""
    with transaction.atomic():
        quarantined = QuarantinedFile.objects.create(
            submission=batch.submission, batch=batch, original_name=name[:500], size=size, reason=reason,
            storage_name=storages["quarantine"].save(f"rejected/{batch.submission_id}/{secrets.token_hex(16)}",
                                                     ContentFile(head)) if head else "",
            kept_bytes=len(head))
        item = IntakeItem.objects.create(batch=batch, name=name[:500], outcome=IntakeItem.Outcome.REJECTED, reason=reason,
                                         quarantined=quarantined)
        IntakeBatch.objects.filter(pk=batch.pk).update(total=F("total") + 1, processed=F("processed") + 1,
                                                       rejected=F("rejected") + 1)
    return item


def enqueue(batch: IntakeBatch) -> None:
    """Queue the batch's processing once the current transaction commits."""
    from django_q.tasks import async_task

    pk = batch.pk
    transaction.on_commit(lambda: async_task("curation.tasks.process_batch", pk, task_name=f"intake-batch-{pk}-{secrets.token_hex(3)}"))


def close(batch: IntakeBatch) -> None:
    """No more files will come: the batch finishes when the last one is taken."""
    IntakeBatch.objects.filter(pk=batch.pk).update(closed=True)
    enqueue(batch)


# ── the lease ─────────────────────────────────────────────────────────────────────────────

def claim(batch_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner) | Q(lease_owner="")
    until = now + dt.timedelta(seconds=lease_seconds())
    if IntakeBatch.objects.filter(free, pk=batch_id).update(lease_owner=owner, lease_until=until):
        return True
    holder = IntakeBatch.objects.filter(pk=batch_id).values_list("lease_owner", flat=True).first()
    if holder and _owner_dead(holder):
        return bool(IntakeBatch.objects.filter(pk=batch_id, lease_owner=holder).update(lease_owner=owner, lease_until=until))
    return False


def renew(batch_id: int, owner: str) -> bool:
    until = timezone.now() + dt.timedelta(seconds=lease_seconds())
    return bool(IntakeBatch.objects.filter(pk=batch_id, lease_owner=owner).update(lease_until=until))


def release(batch_id: int, owner: str) -> None:
    IntakeBatch.objects.filter(pk=batch_id, lease_owner=owner).update(lease_owner="", lease_until=None)


# ── taking staged files ───────────────────────────────────────────────────────────────────

def process_batch(batch_id: int, *, owner: str | None = None, progress=None) -> IntakeBatch:
    """Task body: take every waiting file of the batch. Safe to run twice, and from any number
    of workers at once (one holds the lease; the others return)."""
    owner = owner or owner_id()
    while claim(batch_id, owner):
        try:
            _run(batch_id, owner, progress)
        finally:
            release(batch_id, owner)
        # A file staged while we were finishing found the lease held; look once more.
        if not StagedFile.objects.filter(batch_id=batch_id, state=StagedFile.State.WAITING).exists():
            break
    return IntakeBatch.objects.get(pk=batch_id)


def _waiting(batch_id: int):
    return StagedFile.objects.filter(batch_id=batch_id, state=StagedFile.State.WAITING).order_by("position")


def _run(batch_id: int, owner: str, progress) -> None:
    batch = IntakeBatch.objects.select_related("submission__collection").get(pk=batch_id)
    if batch.state == IntakeBatch.State.DONE and not _waiting(batch_id).exists():
        return
    IntakeBatch.objects.filter(pk=batch_id).update(state=IntakeBatch.State.RUNNING, error="",
                                                   started_at=batch.started_at or timezone.now())
    intake = Intake(batch.submission, batch)
    renew_every = max(1, lease_seconds() // 4)
    last = timezone.now()
    while True:
        chunk = list(_waiting(batch_id)[:200])  # asked again each time: files keep arriving
        if not chunk:
            break
        for staged in chunk:
            take_staged(intake, staged)
            if progress:
                progress(staged)
            if (timezone.now() - last).total_seconds() >= renew_every:
                if not renew(batch_id, owner):
                    logger.warning("intake batch %s: lease lost; stopping", batch_id)
                    return
                last = timezone.now()
    batch.refresh_from_db()
    if batch.closed:
        intake.finish()
        recount(batch)
    else:
        IntakeBatch.objects.filter(pk=batch_id).update(state=IntakeBatch.State.PENDING)


def take_staged(intake: Intake, staged: StagedFile) -> list[IntakeItem]:
    storage = storages["quarantine"]
    taken = set(staged.items.values_list("name", flat=True))
    try:
        with storage.open(staged.storage_name, "rb") as fh:
            items = intake.take_file(fh, staged.name, staged.size, staged=staged, skip=taken)
    except FileNotFoundError:
        items = [] if taken else [intake.reject(staged.name, "the received file is missing from the staging storage",
                                                staged=staged)]
    with transaction.atomic():
        StagedFile.objects.filter(pk=staged.pk).update(state=StagedFile.State.DONE)
        if staged.retry_of_id and items:
            IntakeItem.objects.filter(pk=staged.retry_of_id).update(superseded_by=items[0])
    try:
        storage.delete(staged.storage_name)
    except Exception:  # noqa: BLE001 - a folder raises OSError, a bucket botocore's errors; the file is taken
        logger.warning("intake batch %s: could not delete a staged file", staged.batch_id)
    return items


def recount(batch: IntakeBatch) -> IntakeBatch:
    """Counters from the current items (a retried item counts once, as its retry)."""
    counts = dict(batch.items.filter(CURRENT).values_list("outcome").annotate(n=Count("id")))
    O = IntakeItem.Outcome
    IntakeBatch.objects.filter(pk=batch.pk).update(
        processed=sum(counts.values()), accepted=counts.get(O.ACCEPTED, 0), unchanged=counts.get(O.UNCHANGED, 0),
        conflicts=counts.get(O.CONFLICT, 0), rejected=counts.get(O.REJECTED, 0), failed=counts.get(O.FAILED, 0),
    )
    batch.refresh_from_db()
    return batch


# ── retries and resumption ────────────────────────────────────────────────────────────────

def retryable(batch: IntakeBatch):
    """Items that failed or were rejected, are not retried yet, and whose whole original is kept."""
    O = IntakeItem.Outcome
    items = (batch.items.filter(CURRENT, outcome__in=[O.FAILED, O.REJECTED], quarantined__isnull=False)
             .exclude(quarantined__storage_name="").filter(quarantined__kept_bytes=F("quarantined__size"))
             .select_related("quarantined"))
    return items


def retry(batch: IntakeBatch, *, actor=None, items=None, queue: bool = True) -> int:
    """Stage the kept originals of `items` (all retryable ones by default) again and queue the
    batch (`queue=False`: the caller processes it itself)."""
    chosen = list(items if items is not None else retryable(batch))
    storage = storages["quarantine"]
    staged = 0
    for item in chosen:
        with storage.open(item.quarantined.storage_name, "rb") as fh:
            stage(batch, name=item.name, fileobj=fh, retry_of=item, client_key=f"retry:{item.pk}")
        staged += 1
    if staged:
        IntakeBatch.objects.filter(pk=batch.pk).update(closed=True, state=IntakeBatch.State.PENDING, finished_at=None)
        log("intake.retry", actor=actor, obj=batch, files=staged)
        if queue:
            enqueue(batch)
    return staged


def resume_stalled() -> list[int]:
    """Queue every batch whose worker is gone; close open batches nobody has added to for a long
    time; mark command-line batches whose process died as interrupted. Returns the batches queued."""
    now = timezone.now()
    queued = []
    unfinished = IntakeBatch.objects.exclude(state=IntakeBatch.State.DONE)
    idle = now - dt.timedelta(seconds=idle_close_seconds())
    for batch in unfinished.filter(closed=False).annotate(last=Max("staged_files__created_at")):
        if (batch.last or batch.created_at) < idle and not batch.lease_owner:
            IntakeBatch.objects.filter(pk=batch.pk).update(closed=True)
    for batch in unfinished:
        expired = not batch.lease_until or batch.lease_until < now or _owner_dead(batch.lease_owner)
        if not expired:
            continue
        waiting = _waiting(batch.pk).exists()
        if batch.source == IntakeBatch.Source.CLI and not waiting and batch.lease_owner:
            IntakeBatch.objects.filter(pk=batch.pk, lease_owner=batch.lease_owner).update(
                state=IntakeBatch.State.FAILED, lease_owner="", lease_until=None, finished_at=now,
                error="interrupted: run the same ingest command again (files already taken are recognised as unchanged)")
            continue
        if waiting or (batch.closed and batch.state != IntakeBatch.State.FAILED and batch.source != IntakeBatch.Source.CLI):
            enqueue(batch)
            queued.append(batch.pk)
    return queued
