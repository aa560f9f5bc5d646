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
import re
import secrets
import socket

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from tcia.core import objectstore
from tcia.core.audit import log

from ..models import IntakeBatch, IntakeItem, QuarantinedFile, StagedFile, Submission
from .intake import Intake, max_file_bytes

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


def _durable_save(name: str, content, data: bytes | None = None) -> str:
    """Save into the quarantine storage; on a local disk, fsync before saying it is received
    (bytes in hand go straight to a new file: the name is random, so nothing to check first)."""
    storage = storages["quarantine"]
    path = objectstore.local_path(storage, name) if data is not None else None
    if path is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        return name
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
    its position ("C-STORE #n"); `position`: the caller counts. (The DICOM receiver keeps its
    files with save_received and record_received instead.)"""
    if client_key:
        existing = StagedFile.objects.filter(batch=batch, client_key=client_key[:200]).first()
        if existing is not None:
            return existing
    content = ContentFile(data) if data is not None else File(fileobj)
    size = len(data) if data is not None else getattr(fileobj, "size", None)
    storage_name = _durable_save(f"incoming/{batch.pk}/{secrets.token_hex(12)}", content, data)
    if size is None:
        size = storages["quarantine"].size(storage_name)
    for _ in range(50):
        if position is None:
            position = (StagedFile.objects.filter(batch=batch).aggregate(n=Max("position"))["n"] or 0) + 1
        label = name if name is not None else f"C-STORE #{position}"
        row = dict(batch=batch, position=position, name=label[:500], storage_name=storage_name, size=size,
                   client_key=client_key[:200], retry_of=retry_of)
        try:
            with transaction.atomic():
                staged = StagedFile.objects.create(**row)
                add_to_total(batch, 1)
                return staged
        except IntegrityError:
            position = None
            if client_key:
                existing = StagedFile.objects.filter(batch=batch, client_key=client_key[:200]).first()
                if existing is not None:
                    storages["quarantine"].delete(storage_name)
                    return existing
    raise RuntimeError(f"could not stage a file into batch {batch.pk}")


def add_to_total(batch: IntakeBatch, n: int) -> None:
    """The batch's total (files known to be in it) + n."""
    if n:
        IntakeBatch.objects.filter(pk=batch.pk).update(total=F("total") + n)


RECEIVED_NAME = re.compile(r"^(\d{9})-[0-9a-f]{24}$")  # save_received's names: position-token
RECOVER_AFTER = 120  # seconds a received file may wait for its row before recover_unrecorded records it
RECORD_GROUP = 400  # rows per record_received statement (well under SQLite's parameter limit)


def save_received(batch_id: int, position: int, data: bytes) -> str:
    """Durably keep a file a DICOM association sent (written and fsynced, or a completed PUT)
    before any row names it: the receiver records the rows a group at a time (record_received),
    so a C-STORE never waits for the database. The name carries the file's position, so a file
    whose receiver stopped before recording it is found and recorded (recover_unrecorded). A
    write that fails leaves nothing behind."""
    name = f"incoming/{batch_id}/{position:09d}-{secrets.token_hex(12)}"
    try:
        return _durable_save(name, ContentFile(data), data)
    except BaseException:
        try:
            storages["quarantine"].delete(name)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise


def record_received(batch_id: int, files) -> int:
    """The StagedFile rows of files kept by save_received, (position, storage_name, size) each,
    with the batch's total, one transaction per RECORD_GROUP files. A position recorded already
    (recover_unrecorded got there first) is left as it is. Returns how many rows were new."""
    files = list(files)
    new_rows = 0
    for start in range(0, len(files), RECORD_GROUP):
        part = files[start:start + RECORD_GROUP]
        for _attempt in range(5):
            have = set(StagedFile.objects.filter(batch_id=batch_id, position__in=[f[0] for f in part])
                       .values_list("position", flat=True))
            new = [f for f in part if f[0] not in have]
            if not new:
                break
            try:
                with transaction.atomic():
                    StagedFile.objects.bulk_create([
                        StagedFile(batch_id=batch_id, position=position, name=f"C-STORE #{position}",
                                   storage_name=storage_name, size=size)
                        for position, storage_name, size in new])
                    IntakeBatch.objects.filter(pk=batch_id).update(total=F("total") + len(new))
            except IntegrityError:
                continue  # recorded meanwhile by another process: look again
            new_rows += len(new)
            break
        else:
            raise RuntimeError(f"could not record received files of batch {batch_id}")
    return new_rows


def recover_unrecorded(min_age: int | None = None) -> int:
    """Record the files a DICOM receiver kept (save_received) but did not record before it
    stopped (killed, its machine lost): every file of an unfinished C-STORE batch older than
    `min_age` seconds (RECOVER_AFTER) that no row names becomes a staged file at its position.
    Run by resume_stalled (when a worker starts and every minute). Returns the files recorded."""
    storage = storages["quarantine"]
    cutoff = timezone.now() - dt.timedelta(seconds=RECOVER_AFTER if min_age is None else min_age)
    recorded = 0
    batches = (IntakeBatch.objects.filter(source=IntakeBatch.Source.DICOM)
               .exclude(state__in=[IntakeBatch.State.DONE, IntakeBatch.State.FAILED]).values_list("pk", flat=True))
    for batch_id in batches:
        folder = f"incoming/{batch_id}"
        try:
            _dirs, names = storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        candidates = {f"{folder}/{name}": int(match[1]) for name in names if (match := RECEIVED_NAME.match(name))}
        known = set()  # of the files still in the folder (taken ones are gone), those a row names
        listed = sorted(candidates)
        for start in range(0, len(listed), RECORD_GROUP):
            known.update(StagedFile.objects.filter(batch_id=batch_id, storage_name__in=listed[start:start + RECORD_GROUP])
                         .values_list("storage_name", flat=True))
        found = [(candidates[full], full, storage.size(full)) for full in listed
                 if full not in known and storage.get_modified_time(full) <= cutoff]
        if found:
            n = record_received(batch_id, sorted(found))
            if n:
                logger.warning("intake batch %s: recorded %s received file%s its receiver had not recorded",
                               batch_id, n, "s" if n > 1 else "")
                recorded += n
    return recorded


def stage_references(batch: IntakeBatch, files) -> int:
    """Stage files by reference, (path, name, size) each, in bulk: `manage.py ingest` hands its
    own folder to its workers without copying it. They are read where they are, never deleted."""
    start = (StagedFile.objects.filter(batch=batch).aggregate(n=Max("position"))["n"] or 0) + 1
    rows = [StagedFile(batch=batch, position=start + n, name=name[:500], source_path=str(path), size=size)
            for n, (path, name, size) in enumerate(files)]
    StagedFile.objects.bulk_create(rows, batch_size=1000)
    IntakeBatch.objects.filter(pk=batch.pk).update(total=F("total") + len(rows))
    return len(rows)


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

CHUNK_FILES = int(getattr(settings, "TCIA_INTAKE_CHUNK_FILES", 200))  # files written in one transaction
CHUNK_BYTES = 64 * 1024 * 1024


def process_batch(batch_id: int, *, owner: str | None = None, progress=None) -> IntakeBatch:
    """Task body: take the batch's waiting files a chunk at a time, beside any number of other
    workers on any machine (each chunk is claimed by one), then finish the batch when it is
    closed and nothing is left. Safe to run twice, and from many workers at once."""
    owner = owner or owner_id()
    batch = IntakeBatch.objects.select_related("submission__collection").get(pk=batch_id)
    free_dead_claims(batch_id)
    intake = None
    try:
        while group := claim_chunk(batch_id, owner):
            if intake is None:
                IntakeBatch.objects.filter(pk=batch_id).exclude(state=IntakeBatch.State.RUNNING).update(
                    state=IntakeBatch.State.RUNNING, error="", started_at=batch.started_at or timezone.now())
                intake = Intake(batch.submission, batch)
            take_group(intake, group)
            if progress:
                for staged in group:
                    progress(staged)
    finally:
        if intake is not None:
            intake.close()
    _finish_if_complete(batch, owner)
    return IntakeBatch.objects.get(pk=batch_id)


def _waiting(batch_id: int):
    return StagedFile.objects.filter(batch_id=batch_id, state=StagedFile.State.WAITING).order_by("position")


def _alone(staged: StagedFile) -> bool:
    """Zips (expanded entry by entry) and files over the limit are taken one at a time."""
    return staged.name.lower().endswith(".zip") or staged.size > max_file_bytes()


def take_groups(staged_files):
    """Consecutive staged files in groups that intake writes in one transaction: at most
    CHUNK_FILES files and CHUNK_BYTES bytes, each zip or oversize file a group of its own."""
    group, size = [], 0
    for staged in staged_files:
        if _alone(staged):
            if group:
                yield group
            group, size = [], 0
            yield [staged]
            continue
        if group and (len(group) >= CHUNK_FILES or size + staged.size > CHUNK_BYTES):
            yield group
            group, size = [], 0
        group.append(staged)
        size += staged.size
    if group:
        yield group


def claim_chunk(batch_id: int, owner: str) -> list[StagedFile]:
    """The next group of waiting files nobody holds, now held by `owner` for a lease's time.
    On PostgreSQL, workers skip rows another is claiming (SKIP LOCKED); on SQLite the claim is
    one IMMEDIATE transaction, so claims simply take turns."""
    now = timezone.now()
    free = Q(claimed_by="") | Q(claimed_until__lt=now) | Q(claimed_by=owner)
    with transaction.atomic():
        candidates = list(_waiting(batch_id).filter(free).select_for_update(skip_locked=True)[:CHUNK_FILES])
        group = next(take_groups(candidates), [])
        if group:
            StagedFile.objects.filter(pk__in=[s.pk for s in group]).update(
                claimed_by=owner, claimed_until=now + dt.timedelta(seconds=lease_seconds()))
    return group


def free_dead_claims(batch_id: int | None = None) -> int:
    """Give back the claims of workers of this machine that no longer run (killed, crashed)."""
    qs = StagedFile.objects.filter(state=StagedFile.State.WAITING).exclude(claimed_by="")
    if batch_id is not None:
        qs = qs.filter(batch_id=batch_id)
    dead = [o for o in set(qs.values_list("claimed_by", flat=True)) if _owner_dead(o)]
    return qs.filter(claimed_by__in=dead).update(claimed_by="", claimed_until=None) if dead else 0


def _finish_if_complete(batch: IntakeBatch, owner: str) -> None:
    batch.refresh_from_db()
    if _waiting(batch.pk).exists():
        return  # another worker holds the rest; it finishes the batch
    if not batch.closed:
        IntakeBatch.objects.filter(pk=batch.pk, state=IntakeBatch.State.RUNNING).update(state=IntakeBatch.State.PENDING)
        return
    if batch.state == IntakeBatch.State.DONE or not claim(batch.pk, owner):
        return
    try:
        batch.refresh_from_db()
        if batch.state != IntakeBatch.State.DONE:
            Intake(batch.submission, batch).finish()
            recount(batch)
    finally:
        release(batch.pk, owner)


def _open(staged: StagedFile):
    if staged.source_path:
        return open(staged.source_path, "rb")  # noqa: SIM115 - closed by the caller's with
    return storages["quarantine"].open(staged.storage_name, "rb")


def _discard(staged: StagedFile) -> None:
    if staged.source_path or not staged.storage_name:
        return  # a file staged by reference is the sender's own
    try:
        storages["quarantine"].delete(staged.storage_name)
    except Exception:  # noqa: BLE001 - a folder raises OSError, a bucket botocore's errors; the file is taken
        logger.warning("intake batch %s: could not delete a staged file", staged.batch_id)


def take_group(intake: Intake, group: list[StagedFile]) -> list[IntakeItem]:
    if len(group) == 1 and _alone(group[0]):
        return take_staged(intake, group[0])
    return take_staged_many(intake, group)


def take_staged_many(intake: Intake, group: list[StagedFile]) -> list[IntakeItem]:
    """Take a group of plain files in one chunk (see Intake.take_many); files an earlier worker
    already took (it died before marking them) are only marked."""
    taken = set(IntakeItem.objects.filter(staged__in=group).values_list("staged_id", flat=True))
    files, missing, items, rest = [], [], [], []
    for staged in group:
        if staged.pk in taken:
            rest.append(staged)
            continue
        try:
            with _open(staged) as fh:
                data = fh.read()
        except FileNotFoundError:
            missing.append(staged)
            continue
        if data[:4] == b"PK\x03\x04":  # a zip under another name: expanded on its own
            items.extend(take_staged(intake, staged))
            continue
        files.append((data, staged.name, staged))
        rest.append(staged)
    if files:
        items.extend(intake.take_many(files))
    for staged in missing:
        items.append(intake.reject(staged.name, "the received file is missing from the staging storage", staged=staged))
    _mark_taken(rest + missing, items)
    for staged in rest:
        _discard(staged)
    return items


def take_staged(intake: Intake, staged: StagedFile) -> list[IntakeItem]:
    taken = set(staged.items.values_list("name", flat=True))
    try:
        with _open(staged) as fh:
            items = intake.take_file(fh, staged.name, staged.size, staged=staged, skip=taken)
    except FileNotFoundError:
        items = [] if taken else [intake.reject(staged.name, "the received file is missing from the staging storage",
                                                staged=staged)]
    _mark_taken([staged], items)
    _discard(staged)
    return items


def _mark_taken(staged_files: list[StagedFile], items: list[IntakeItem]) -> None:
    retried = {s.pk: s.retry_of_id for s in staged_files if s.retry_of_id}
    with transaction.atomic():
        StagedFile.objects.filter(pk__in=[s.pk for s in staged_files]).update(state=StagedFile.State.DONE)
        done = set()
        for item in items:
            if item.staged_id in retried and item.staged_id not in done:
                IntakeItem.objects.filter(pk=retried[item.staged_id]).update(superseded_by=item)
                done.add(item.staged_id)


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
    """Record the files a stopped receiver kept but did not record (recover_unrecorded); queue
    every batch with files no live worker holds; give back the claims of dead workers of this
    machine; close open batches nobody has added to for a long time; mark command-line
    batches whose process died as interrupted (their files are the command's own: only
    `ingest --resume` on that machine can read them). Returns the batches queued."""
    recover_unrecorded()
    now = timezone.now()
    free_dead_claims()
    queued = []
    unfinished = IntakeBatch.objects.exclude(state__in=[IntakeBatch.State.DONE, IntakeBatch.State.FAILED])
    idle = now - dt.timedelta(seconds=idle_close_seconds())
    for batch in unfinished.filter(closed=False).annotate(last=Max("staged_files__created_at")):
        if (batch.last or batch.created_at) < idle:
            IntakeBatch.objects.filter(pk=batch.pk).update(closed=True)
    for batch in unfinished:
        if batch.lease_owner and batch.lease_until and batch.lease_until > now and not _owner_dead(batch.lease_owner):
            continue  # being finished
        held = Q(claimed_until__gte=now) & ~Q(claimed_by="")
        waiting = _waiting(batch.pk)
        if waiting.filter(held).exists():
            continue  # a live worker is on it
        if batch.source == IntakeBatch.Source.CLI:
            if waiting.exists() or batch.state == IntakeBatch.State.RUNNING:
                IntakeBatch.objects.filter(pk=batch.pk).update(
                    state=IntakeBatch.State.FAILED, finished_at=now,
                    error=f"interrupted: go on with manage.py ingest --resume {batch.pk} on the machine that ran it "
                          "(files already taken are not taken again)")
            continue
        if waiting.exists() or batch.closed:
            enqueue(batch)
            queued.append(batch.pk)
    return queued
