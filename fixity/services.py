"""The fixity audit: register stored files, re-hash the least recently verified ones within a
time budget and a rate limit, record the run, block and report failures, and let a curator
re-verify or restore a failed file.

Scale: a run never lists every file. New files are registered from a watermark (StoredFile and
QuarantinedFile primary keys grow), and each run takes files from two indexes (never verified
first, by arrival: `fixity_never_idx`; then the oldest verification: `fixity_due_idx`), a chunk at a time, until its time budget
(TCIA_FIXITY_RUN_SECONDS) is spent or no file is due. A cycle over 30 million files is so spread
over as many runs as it needs; TCIA_FIXITY_CYCLE_DAYS says how old a verification may get.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.core.mail import mail_admins
from django.db import transaction
from django.db.models import F, Max, Q
from django.urls import reverse
from django.utils import timezone

from tcia.core import objectstore
from tcia.core.audit import log

from .models import FixityFailure, FixityRecord, FixityRun, Storage

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
CHUNK_RECORDS = 200
# New rows can commit out of primary-key order (a long transaction); registration looks this far
# behind the watermark so such a row is still found (existing ones are skipped, not duplicated).
REGISTER_OVERLAP = 5000
REGISTER_PER_RUN = 500_000  # a scheduled run registers at most this many new files of each storage


def cycle_days() -> int:
    return int(getattr(settings, "TCIA_FIXITY_CYCLE_DAYS", 90))


def run_seconds() -> float:
    return float(getattr(settings, "TCIA_FIXITY_RUN_SECONDS", 600))


def bytes_per_second() -> int:
    return int(getattr(settings, "TCIA_FIXITY_BYTES_PER_SECOND", 0))


# Registration -------------------------------------------------------------------------------


def _register(rows, storage: str, fk: str) -> int:
    """rows: (pk, sha256, size, storage name) of files not known to be registered."""
    rows = list(rows)
    if not rows:
        return 0
    known = set(FixityRecord.objects.filter(**{f"{fk}__in": [r[0] for r in rows]}).values_list(fk, flat=True))
    new = [FixityRecord(storage=storage, name=name, sha256=sha, size=size, **{fk: pk})
           for pk, sha, size, name in rows if pk not in known]
    FixityRecord.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def register_new(batch: int = 5000, max_rows: int | None = None) -> int:
    """Add the files stored since the last registration to the audit (at most about `max_rows`
    of each storage: the first run over an archive of millions registers them over several runs,
    each continuing from the watermark); drop purged quarantine files (their bytes are gone on
    purpose). Returns how many were added."""
    from collections_app.models import StoredFile
    from curation.models import QuarantinedFile

    added = 0
    sources = [
        (Storage.ARCHIVE, "stored_file_id", StoredFile.objects.all(), ("pk", "sha256", "size", "storage_name")),
        (Storage.QUARANTINE, "quarantined_file_id",
         # Only whole originals: of a file kept in part, the recorded sha256 is of bytes not stored.
         QuarantinedFile.objects.filter(size__gt=0, kept_bytes=F("size"), purged_at__isnull=True)
         .exclude(storage_name="").exclude(sha256=""),
         ("pk", "sha256", "size", "storage_name")),
    ]
    for storage, fk, qs, fields in sources:
        mark = FixityRecord.objects.filter(storage=storage).aggregate(m=Max(fk))["m"] or 0
        start = max(mark - REGISTER_OVERLAP, 0)
        seen = 0
        while max_rows is None or seen < max_rows:
            rows = list(qs.filter(pk__gt=start).order_by("pk").values_list(*fields)[:batch])
            if not rows:
                break
            added += _register(rows, storage, fk)
            seen += len(rows)
            start = rows[-1][0]
    FixityRecord.objects.filter(storage=Storage.QUARANTINE).filter(
        Q(quarantined_file__purged_at__isnull=False) | Q(quarantined_file__storage_name="")).delete()
    return added


# Hashing ----------------------------------------------------------------------------------------


class RateLimit:
    """Sleeps so that bytes read since `start` stay at or under `rate` bytes per second."""

    def __init__(self, rate: int):
        self.rate, self.start, self.bytes = rate, time.monotonic(), 0

    def consumed(self, n: int) -> None:
        self.bytes += n
        if self.rate > 0:
            ahead = self.bytes / self.rate - (time.monotonic() - self.start)
            if ahead > 0:
                time.sleep(ahead)


def _open(storage_key: str, name: str):
    storage = storages[storage_key]
    path = objectstore.local_path(storage, name)
    if path is not None:
        return open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller's with
    # No size: a bucket is read to the object's real end, so bytes appended to it are seen.
    return objectstore.open_stream(storage, name)


def hash_file(storage_key: str, name: str, limit: RateLimit | None = None) -> tuple[str, int]:
    """(sha256 hex, bytes read) of a stored file, read in 1 MiB chunks. FileNotFoundError when missing."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    total = 0
    with _open(storage_key, name) as fh:
        readinto = getattr(fh, "readinto", None)
        while True:
            if readinto is not None:
                n = readinto(buf)
                if not n:
                    break
                h.update(view[:n])
            else:
                data = fh.read(CHUNK_BYTES)
                if not data:
                    break
                n = len(data)
                h.update(data)
            total += n
            if limit is not None:
                limit.consumed(n)
    return h.hexdigest(), total


@dataclass
class Outcome:
    ok: bool
    kind: str = ""
    sha256: str = ""
    size: int | None = None
    bytes_read: int = 0


def check_record(record: FixityRecord, limit: RateLimit | None = None) -> Outcome:
    try:
        sha, size = hash_file(record.storage, record.name, limit)
    except FileNotFoundError:
        return Outcome(False, FixityFailure.Kind.MISSING)
    except OSError as exc:
        logger.error("fixity: cannot read %s:%s: %s", record.storage, record.name, type(exc).__name__)
        return Outcome(False, FixityFailure.Kind.UNREADABLE)
    except Exception as exc:  # noqa: BLE001 - a bucket's client errors are not OSErrors
        if "NoSuchKey" in type(exc).__name__ or "404" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
            return Outcome(False, FixityFailure.Kind.MISSING)
        logger.error("fixity: cannot read %s:%s: %s", record.storage, record.name, type(exc).__name__)
        return Outcome(False, FixityFailure.Kind.UNREADABLE)
    if size != record.size:
        return Outcome(False, FixityFailure.Kind.SIZE, sha, size, size)
    if sha != record.sha256:
        return Outcome(False, FixityFailure.Kind.MISMATCH, sha, size, size)
    return Outcome(True, sha256=sha, size=size, bytes_read=size)


# What a failure touches ----------------------------------------------------------------------


def affected(record: FixityRecord) -> list[dict]:
    """The collections (and published version numbers) a file belongs to: {slug, title, versions}."""
    from collections_app.models import Collection, Image, VersionEntry

    out: dict[int, dict] = {}

    def add(pk, slug, title):
        return out.setdefault(pk, {"pk": pk, "slug": slug, "title": title, "versions": set()})

    if record.stored_file_id:
        for pk, slug, title, number in VersionEntry.objects.filter(stored_file_id=record.stored_file_id).values_list(
                "version__collection_id", "version__collection__slug", "version__collection__title", "version__number"):
            add(pk, slug, title)["versions"].add(number)
        for pk, slug, title in Image.objects.filter(stored_file_id=record.stored_file_id).values_list(
                "series__collection_id", "series__collection__slug", "series__collection__title"):
            add(pk, slug, title)
    if record.quarantined_file_id:
        c = Collection.objects.filter(submission__quarantine=record.quarantined_file_id).values_list(
            "pk", "slug", "title").first()
        if c:
            add(*c)
    return [dict(v, versions=sorted(v["versions"])) for v in sorted(out.values(), key=lambda v: v["slug"])]


# Runs ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    run: FixityRun | None
    new_failures: list[FixityFailure] = field(default_factory=list)
    failed_records: list[FixityRecord] = field(default_factory=list)
    skipped: str = ""


def _another_running(budget: float) -> bool:
    """A run still going (a later schedule tick must not run beside it); one silent for longer
    than its budget plus five minutes died with its worker and is marked so."""
    stale = timezone.now() - timedelta(seconds=budget + 300)
    FixityRun.objects.filter(state=FixityRun.State.RUNNING, started_at__lt=stale).update(
        state=FixityRun.State.ERROR, note="The worker stopped before the run finished.")
    return FixityRun.objects.filter(state=FixityRun.State.RUNNING).exists()


def _fail(run: FixityRun, record: FixityRecord, outcome: Outcome) -> FixityFailure | None:
    """Record and block; a file already blocked by an open failure gets no second one (and no
    second e-mail) until a curator resolves the first."""
    with transaction.atomic():
        already = record.blocked and record.failures.filter(resolved_at__isnull=True).exists()
        FixityRecord.objects.filter(pk=record.pk).update(status=FixityRecord.Status.FAILED, blocked=True,
                                                         last_verified_at=timezone.now())
        record.status, record.blocked = FixityRecord.Status.FAILED, True
        if already:
            return None
        failure = FixityFailure.objects.create(run=run, record=record, kind=outcome.kind,
                                               observed_sha256=outcome.sha256, observed_size=outcome.size)
        log("fixity.failure", obj=failure, storage=record.storage, name=record.name, expected_sha256=record.sha256,
            kind=outcome.kind, observed_sha256=outcome.sha256, observed_size=outcome.size)
    return failure


def run_audit(*, trigger: str = "schedule", scope=None, full: bool = False, max_seconds: float | None = None,
              max_files: int | None = None, rate: int | None = None, cycle: int | None = None,
              progress=None) -> RunResult:
    """One run. Incremental (the schedule): the due files, least recently verified first, within
    `max_seconds`. `full` (manage.py fixity_check): every record of `scope` (a FixityRecord
    queryset), blocked ones too, whatever its last verification."""
    budget = run_seconds() if max_seconds is None else max_seconds
    rate = bytes_per_second() if rate is None else rate
    cycle = cycle_days() if cycle is None else cycle
    if _another_running(budget or 3600):
        return RunResult(None, skipped="another fixity run is still going")
    run = FixityRun.objects.create(trigger=trigger, bytes_per_second_limit=rate, cycle_days=cycle)
    started = time.monotonic()
    result = RunResult(run)
    try:
        run.registered = register_new(max_rows=None if full else REGISTER_PER_RUN)
        limit = RateLimit(rate)
        now = timezone.now()
        base = scope if scope is not None else FixityRecord.objects.all()
        if full:
            due = base.order_by("pk")
            never = stale = None
        else:
            # Two index scans (never verified, by arrival; then the oldest verification) rather
            # than one NULLS FIRST ordering, which SQLite cannot index and PostgreSQL's default cannot use.
            due = base.filter(blocked=False).filter(
                Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=now - timedelta(days=cycle)))
            never = base.filter(blocked=False, last_verified_at__isnull=True).order_by("pk")
            stale = base.filter(blocked=False, last_verified_at__lt=now - timedelta(days=cycle)).order_by("last_verified_at", "pk")
        after = 0
        while True:
            if budget and time.monotonic() - started >= budget:
                break
            if max_files is not None and run.files_checked >= max_files:
                break
            take = CHUNK_RECORDS if max_files is None else min(CHUNK_RECORDS, max_files - run.files_checked)
            if full:
                chunk = list(due.filter(pk__gt=after)[:take])
            else:
                chunk = list(never[:take]) or list(stale[:take])
            if not chunk:
                break
            verified = []
            for record in chunk:
                outcome = check_record(record, limit)
                run.files_checked += 1
                run.bytes_checked += outcome.bytes_read
                if outcome.ok:
                    verified.append(record.pk)
                else:
                    run.failures += 1
                    result.failed_records.append(record)
                    failure = _fail(run, record, outcome)
                    if failure is not None:
                        result.new_failures.append(failure)
                if progress is not None:
                    progress(outcome.bytes_read)
                if budget and time.monotonic() - started >= budget:
                    break
            # One UPDATE a chunk (the chunk's end as their verification time), not one per file.
            FixityRecord.objects.filter(pk__in=verified).update(status=FixityRecord.Status.OK, last_verified_at=timezone.now())
            after = chunk[-1].pk
            run.duration_seconds = time.monotonic() - started
            run.save(update_fields=["files_checked", "bytes_checked", "failures", "registered", "duration_seconds"])
        run.state = FixityRun.State.DONE
        if not full:
            run.remaining_due = due.count() if run.files_checked else 0
    except Exception as exc:
        run.state, run.note = FixityRun.State.ERROR, f"Stopped by {type(exc).__name__}."
        raise
    finally:
        run.finished_at = timezone.now()
        run.duration_seconds = time.monotonic() - started
        run.save()
        log("fixity.run", obj=run, trigger=trigger, files=run.files_checked, bytes=run.bytes_checked,
            failures=run.failures, seconds=round(run.duration_seconds, 3))
    if result.new_failures:
        notify_admins(run, result.new_failures)
    return result


def page_url() -> str:
    return (getattr(settings, "TCIA_SITE_URL", "") or "").rstrip("/") + reverse("fixity:dashboard")


def notify_admins(run: FixityRun, failures: list[FixityFailure]) -> None:
    """One e-mail to settings.ADMINS per run that found new failures: which files, what kind of
    failure, which collections and versions, where to resolve them. No image content, no PHI."""
    lines = [f"The fixity audit (run {run.pk}, {run.started_at:%Y-%m-%d %H:%M} UTC) found {len(failures)} "
             "damaged or missing file(s). Downloads of them are blocked until a curator re-verifies or restores them.", ""]
    for f in failures[:200]:
        where = "; ".join(f"{a['slug']}" + (f" (versions {', '.join(map(str, a['versions']))})" if a["versions"] else
                                            " (unpublished)") for a in affected(f.record)) or "no collection"
        lines.append(f"- {f.get_kind_display()}: {f.record.storage} file sha256 {f.record.sha256} — {where}")
    if len(failures) > 200:
        lines.append(f"… and {len(failures) - 200} more.")
    lines += ["", f"Resolve them at {page_url()}"]
    try:
        mail_admins(f"Fixity failure: {len(failures)} file(s) damaged or missing", "\n".join(lines))
    except Exception as exc:  # noqa: BLE001 - a mail server down must not lose the run's record
        logger.error("fixity: could not e-mail the admins about run %s: %s", run.pk, type(exc).__name__)
    if not settings.ADMINS:
        logger.error("fixity: run %s found %d failure(s) and no ADMINS are set to tell", run.pk, len(failures))


# Curator actions --------------------------------------------------------------------------------


class RestoreError(Exception):
    pass


def _resolve(record: FixityRecord, *, actor, resolution: str, note: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        n = record.failures.filter(resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=actor, resolution=resolution, resolution_note=note)
        FixityRecord.objects.filter(pk=record.pk).update(status=FixityRecord.Status.OK, blocked=False, last_verified_at=now)
        record.status, record.blocked, record.last_verified_at = FixityRecord.Status.OK, False, now
        log(f"fixity.{resolution}", actor=actor, obj=record, reason=note, failures=n, sha256=record.sha256)
    return n


def _check_and_resolve(record: FixityRecord, *, actor, resolution: str, note: str) -> Outcome:
    """Hash what the storage holds now; resolve (unblock) only when it hashes right."""
    outcome = check_record(record)
    if outcome.ok:
        _resolve(record, actor=actor, resolution=resolution, note=note)
    else:
        log(f"fixity.{resolution}_failed", actor=actor, obj=record, reason=note, kind=outcome.kind)
    return outcome


def reverify(record: FixityRecord, *, actor, note: str = "") -> Outcome:
    """Re-hash now (a storage that came back); the file is unblocked only when it hashes right."""
    return _check_and_resolve(record, actor=actor, resolution=FixityFailure.Resolution.REVERIFIED, note=note)


def restore(record: FixityRecord, data: bytes, *, actor, note: str = "") -> Outcome:
    """Write `data` back (it must be the file's recorded bytes: same sha256 and size), then
    re-verify what the storage now holds."""
    if len(data) != record.size or hashlib.sha256(data).hexdigest() != record.sha256:
        raise RestoreError(
            f"The uploaded file does not match the stored file's recorded sha256 {record.sha256} and size "
            f"{record.size} bytes; nothing was written.")
    storage = storages[record.storage]
    try:
        storage.delete(record.name)
    except FileNotFoundError:
        pass
    objectstore.save_once(storage, record.name, data, content_type="application/octet-stream")
    return _check_and_resolve(record, actor=actor, resolution=FixityFailure.Resolution.RESTORED, note=note)
