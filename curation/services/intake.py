"""Intake: parse once, de-identify, store content-addressed, index, run hooks.

Every way files arrive (browser upload, `manage.py ingest`, the DICOM receiver, a retry) ends in
`Intake.take_file` / `Intake.take`. A file that cannot be taken is quarantined with its reason
and the batch goes on; a file that failed for another reason (the database, say) keeps its
original for a retry. Originals never leave the quarantine storage and are never logged.
Staging, workers and retries: `curation.services.staging`.
"""
import gc
import hashlib
import io
import logging
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import storages
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from collections_app.models import Image
from collections_app.services.indexing import IndexError_, check_owner, index_dataset, index_many
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import BlobWriter, discard_blob, store_bytes, store_many
from curation.deid import DeidError, read_dicom
from curation.deid.engine import encode_dicom
from curation.deid.rawvalue import get as raw_get

from .. import hooks
from ..models import ConflictingFile, IntakeBatch, IntakeItem, QuarantinedFile, Submission
from .deid_config import build_deidentifier
from .zips import is_zip, iter_zip

logger = logging.getLogger(__name__)

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


def _yield(pool) -> None:
    """Let the blob writer thread have the GIL for a moment. It hashes and writes in C calls that
    release the GIL, but after each it waits for this thread's switch interval (5 ms) to get the
    GIL back, so left alone it falls behind and the chunk waits for it at its end; three pauses
    per file (a few µs each) let it keep up: 155 → 165 files/s (bench/ingest.py, PostgreSQL)."""
    if pool is not None and pool.threaded:
        time.sleep(0)


@contextmanager
def _gc_paused():
    """The cyclic garbage collector off while a chunk is taken. A chunk allocates a few hundred
    thousand objects that live until its transaction ends; each collection would walk them (and
    everything else this process holds) again: about 1 ms per file (bench/ingest.py: 130 → 150
    files/s). What a chunk frees is freed by reference counting as usual; any cycles it leaves
    are collected once the collector is back on. Process-wide, for the length of one chunk."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


SWITCH_INTERVAL = 0.0002  # seconds; see _switching


@contextmanager
def _switching(interval: float):
    """The interpreter's thread switch interval shortened while a chunk is taken. The blob writer
    thread hashes and writes in C calls that release the GIL; at the end of each it waits for
    the GIL, which this thread (busy de-identifying) hands over only when the switch interval
    (5 ms by default) runs out. A dozen such waits per file left the writer behind and the chunk
    waiting for it at its end (0.83-0.96 ms per file); at 0.2 ms: 0.42-0.52, and 162-164 →
    171-190 files/s (bench/ingest.py --phases, PostgreSQL). 0.5 ms did not help; 0.1 ms cost
    more CPU than it saved. Process-wide, for the length of one chunk."""
    if interval is None:  # no writer thread to hand the GIL to
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def max_file_bytes() -> int:
    return int(getattr(settings, "TCIA_MAX_FILE_BYTES", 1024**3))


def max_upload_bytes() -> int:
    return int(getattr(settings, "TCIA_MAX_UPLOAD_BYTES", 2 * 1024**3))


def supported_transfer_syntax(uid: str) -> bool:
    """True when pydicom (with the installed pylibjpeg plugins) can decode this syntax, so
    the image can be rendered, reviewed and masked."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    uid = UID(uid)
    if not uid.is_transfer_syntax:
        return False
    if not uid.is_compressed:
        return True
    try:
        return get_decoder(uid).is_available
    except NotImplementedError:
        return False


class Rejected(Exception):
    """The file cannot be taken; the message says why and is shown to curators."""


@dataclass
class Prepared:
    """A file parsed and de-identified, not yet written: what the database step needs."""

    ds: object
    clean: bytes
    sop: str
    name: str
    staged: object
    warnings: list
    elements: list | None
    data: bytes  # the original, kept for a failure's quarantine copy
    blob: object = None  # a Future of the Digest once write_blob was handed the clean bytes
    original: object = None  # hooks.Original: what observers noted before de-identification
    _sha: str | None = None

    @property
    def sha(self) -> str:
        """sha256 of the clean bytes: the writer thread's, once it hashed them (no second pass)."""
        if self._sha is None:
            self._sha = self.blob.result().sha256 if self.blob is not None else hashlib.sha256(self.clean).hexdigest()
        return self._sha


@dataclass
class _Collector:
    """Receives the engine's on_element callback for the file being processed."""

    elements: list = field(default_factory=list)

    def __call__(self, tag_path, vr, value):
        self.elements.append((tag_path, vr, value))


class Intake:
    """Processes files into one submission. Build one per batch: the engine is compiled once."""

    def __init__(self, submission: Submission, batch: IntakeBatch):
        self.submission = submission
        self.batch = batch
        self.collector = _Collector() if hooks.has_ingest_hooks() else None
        self._pool = None
        self.engine = build_deidentifier(submission, on_element=self.collector)
        self._index_cache: dict = {}  # series rows found in this batch (see index_dataset)

    def take(self, data: bytes, name: str, *, staged=None) -> IntakeItem:
        """Take one file's bytes. Never raises for bad input: it becomes a rejected item; any
        other failure becomes a failed item whose original is kept for a retry."""
        try:
            prepared = self._prepare(data, name, staged)
        except Rejected as exc:
            return self.reject(name, str(exc), data=data, staged=staged)
        except Exception as exc:  # noqa: BLE001 - recorded on the item; the batch goes on
            return self.fail(name, exc, data=data, staged=staged)
        return self._take_prepared(prepared)

    def take_many(self, files) -> list[IntakeItem]:
        """Take a chunk of files, (data, name, staged) each: parsed and de-identified one by one,
        then written in one transaction with a constant number of statements (stored files,
        index rows, hooks, items, counters) for the new instances. A resend or a conflict is taken
        alone; if the chunk's transaction fails (another worker inserted one of its instances
        meanwhile, say), nothing of it stays and each file is taken alone."""
        with _gc_paused(), _switching(SWITCH_INTERVAL if self._writer().threaded else None):
            return self._take_many(files)

    def _take_many(self, files) -> list[IntakeItem]:
        items, new = [], []
        for data, name, staged in files:
            prepared = self._prepare_or_record(data, name, staged, items)
            if prepared is not None:
                new.append(prepared)
        fresh, alone = self._split_held(new)
        if fresh:
            try:
                items.extend(self._file_many(fresh))
            except Exception:  # noqa: BLE001 - the chunk is rolled back whole; each file goes alone
                self._index_cache.clear()
                alone = fresh + alone
        items.extend(self._take_alone(alone))
        return items

    def _prepare_or_record(self, data, name, staged, items) -> "Prepared | None":
        """The file prepared and its blob handed to the writer thread, or None when it was
        rejected or failed (its item appended to `items`)."""
        try:
            prepared = self._prepare(data, name, staged)
        except Rejected as exc:
            items.append(self.reject(name, str(exc), data=data, staged=staged))
            return None
        except Exception as exc:  # noqa: BLE001
            items.append(self.fail(name, exc, data=data, staged=staged))
            return None
        prepared.blob = self._writer().submit(prepared.clean)
        return prepared

    @staticmethod
    def _split_held(new: list["Prepared"]) -> tuple[list, list]:
        """(new instances, files to take alone): an instance the archive holds, or one a file
        earlier in the chunk carries, goes alone (a resend or a conflict)."""
        seen: set = set()
        held = set(Image.objects.filter(sop_instance_uid__in=[p.sop for p in new]).values_list("sop_instance_uid", flat=True))
        fresh, alone = [], []
        for p in new:
            if p.sop in held or p.sop in seen:
                alone.append(p)
            else:
                seen.add(p.sop)
                fresh.append(p)
        return fresh, alone

    def _take_alone(self, alone: list["Prepared"]) -> list[IntakeItem]:
        items = []
        for p in alone:
            item = self._take_prepared(p)
            items.append(item)
            try:
                p.blob.result()  # written ahead; if the file turned out a resend in another encoding
            except OSError:
                continue  # the write failed: the item says the file failed, its original is kept
            if item.stored_file_id is None or item.stored_file.sha256 != p.sha:  # (or failed), no row names it
                discard_blob(p.sha)
        return items

    def close(self) -> None:
        """Stop the blob writer thread (finish does; a worker that takes chunks of a batch it
        does not finish calls it when it stops)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _writer(self):
        """Hashes and writes blobs while this thread de-identifies the next file (storage.BlobWriter)."""
        if self._pool is None:
            self._pool = BlobWriter()
        return self._pool

    def _prepare(self, data: bytes, name: str, staged) -> "Prepared":
        """Parse, check and de-identify one file (no database write)."""
        if len(data) > max_file_bytes():
            raise Rejected(f"file of {len(data)} bytes exceeds the per-file limit of {max_file_bytes()} bytes")
        try:
            ds = read_dicom(data, name)
        except DeidError as exc:
            raise Rejected(_strip_name(str(exc), name)) from None
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on broken input
            raise Rejected(f"not readable as DICOM: {type(exc).__name__}") from None
        _yield(self._pool)
        missing = [k for k in REQUIRED_UIDS if not str(raw_get(ds, k, "") or "").strip()]
        if missing:
            raise Rejected(f"missing required attribute{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        if not ts or not supported_transfer_syntax(ts):
            raise Rejected(f"unsupported transfer syntax {ts or '(none)'}")
        if self.collector is not None:
            self.collector.elements = []
        original = hooks.observe_original(ds, submission=self.submission)  # before the engine changes ds
        try:
            result = self.engine.deidentify_dataset(ds, source=name)
        except DeidError as exc:
            raise Rejected(_strip_name(str(exc), name)) from None
        _yield(self._pool)
        if original is not None:
            original.deid = result
        clean = encode_dicom(ds)
        _yield(self._pool)
        elements = self.collector.elements if self.collector is not None else None
        return Prepared(ds=ds, clean=clean, sop=str(raw_get(ds, "SOPInstanceUID")).strip(),
                        name=name, staged=staged, warnings=result.warnings[:20], elements=elements, data=data,
                        original=original)

    def _take_prepared(self, p: "Prepared") -> IntakeItem:
        try:
            for attempt in (1, 2):
                try:
                    return self._file(p)
                except IntegrityError:
                    # Another worker indexed the same instance (or its study or series) between our
                    # lookup and our insert; the transaction is gone, so look again once.
                    self._index_cache.clear()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        except IndexError_ as exc:  # e.g. a UID another collection owns
            self._index_cache.clear()
            return self.reject(p.name, str(exc), data=p.data, staged=p.staged)
        except Exception as exc:  # noqa: BLE001 - recorded on the item; the batch goes on
            self._index_cache.clear()  # a rolled-back transaction may have created cached rows
            return self.fail(p.name, exc, data=p.data, staged=p.staged)

    def _file_many(self, fresh: list["Prepared"]) -> list[IntakeItem]:
        collection = self.submission.collection
        with transaction.atomic():
            stored = store_many(self._written(fresh))
            images = index_many(collection=collection, entries=[(p.ds, stored[p.sha]) for p in fresh],
                                cache=self._index_cache)
            if self.collector is not None:
                hooks.run_ingest_hooks_many(submission=self.submission, entries=[
                    hooks.IngestEntry(image=image, elements=p.elements, dataset=p.ds, original=p.original)
                    for image, p in zip(images, fresh)])
            items = IntakeItem.objects.bulk_create([
                IntakeItem(batch=self.batch, name=p.name[:500], outcome=IntakeItem.Outcome.ACCEPTED, warnings=p.warnings,
                           image=image, stored_file=image.stored_file, staged=p.staged)
                for image, p in zip(images, fresh)])
            IntakeBatch.objects.filter(pk=self.batch.pk).update(processed=F("processed") + len(items),
                                                                accepted=F("accepted") + len(items))
        return items

    @staticmethod
    def _written(fresh: list["Prepared"]) -> list:
        """The Digests of the chunk's blobs, once the writer thread has written them all."""
        return [p.blob.result() for p in fresh]

    def _file(self, p: "Prepared") -> IntakeItem:
        """Index one file in one short transaction: a new instance, the same content again
        (unchanged, whatever the encoding), or other content under a known SOP Instance UID (a
        conflict: kept beside the image and flagged)."""
        collection = self.submission.collection
        ds, clean, sop_uid, name, warnings = p.ds, p.clean, p.sop, p.name, p.warnings
        held = None
        for image in Image.objects.filter(sop_instance_uid=sop_uid).select_related("stored_file"):
            check_owner(image, "SOPInstanceUID", collection)
            held = image
        sha = p.sha
        reason = ""
        with transaction.atomic():
            if held is not None and held.stored_file.sha256 == sha:
                outcome, image, stored = IntakeItem.Outcome.UNCHANGED, held, held.stored_file
            elif held is not None:
                differing = content_differences(held, clean)
                if not differing:
                    outcome, image, stored = IntakeItem.Outcome.UNCHANGED, held, held.stored_file
                    reason = "the same instance in another encoding: nothing changed"
                else:
                    outcome, image = IntakeItem.Outcome.CONFLICT, held
                    stored = store_bytes(clean)
                    ConflictingFile.objects.get_or_create(
                        image=held, stored_file=stored,
                        defaults={"collection": collection, "differences": differing,
                                  "pixels_differ": "PixelData" in differing},
                    )
                    reason = conflict_reason(differing)
            else:
                outcome = IntakeItem.Outcome.ACCEPTED
                stored = store_bytes(clean)
                indexed = index_dataset(collection=collection, ds=ds, stored_file=stored, cache=self._index_cache)
                image = indexed.image
                if indexed.created and p.elements is not None:
                    hooks.run_ingest_hooks(submission=self.submission, image=image, elements=p.elements, dataset=ds,
                                           original=p.original)
            item = IntakeItem.objects.create(
                batch=self.batch, name=name[:500], outcome=outcome, reason=reason, warnings=warnings,
                image=image, stored_file=stored, staged=p.staged,
            )
            counter = {"accepted": "accepted", "unchanged": "unchanged", "conflict": "conflicts"}[outcome]
            IntakeBatch.objects.filter(pk=self.batch.pk).update(
                processed=F("processed") + 1, **{counter: F(counter) + 1}
            )
        return item

    def reject(self, name: str, reason: str, *, data: bytes | None = None, fileobj=None, staged=None) -> IntakeItem:
        return self._record(IntakeItem.Outcome.REJECTED, name, reason, data=data, fileobj=fileobj, staged=staged)

    def fail(self, name: str, exc: Exception, *, data: bytes | None = None, fileobj=None, staged=None) -> IntakeItem:
        """A file that was not taken for a reason other than its content. The reason shown is
        plain; the exception's text (which could quote a value) goes to no one."""
        kind = type(exc).__name__
        busy = isinstance(exc, OperationalError)
        reason = ("could not be processed: the database was busy" if busy else f"could not be processed ({kind})")
        reason += "; the original is kept: retry it from the batch page or with manage.py ingest --retry"
        logger.error("intake batch %s: a file failed (%s)", self.batch.pk, kind)
        logger.debug("intake failure", exc_info=exc)
        return self._record(IntakeItem.Outcome.FAILED, name, reason, data=data, fileobj=fileobj, staged=staged,
                            keep_whole=True)

    def _record(self, outcome, name, reason, *, data, fileobj, staged, keep_whole=None) -> IntakeItem:
        counter = "failed" if outcome == IntakeItem.Outcome.FAILED else "rejected"
        with transaction.atomic():
            quarantined = quarantine(self.submission, self.batch, name, reason, data=data, fileobj=fileobj,
                                     keep_whole=keep_whole)
            item = IntakeItem.objects.create(
                batch=self.batch, name=name[:500], outcome=outcome, reason=reason, quarantined=quarantined, staged=staged
            )
            IntakeBatch.objects.filter(pk=self.batch.pk).update(processed=F("processed") + 1, **{counter: F(counter) + 1})
        if outcome == IntakeItem.Outcome.REJECTED:
            logger.info("intake batch %s: rejected one file (%s)", self.batch.pk, reason.split(":")[0][:80])
        return item

    def take_file(self, fh, name: str, size: int, *, staged=None, skip=frozenset()) -> list[IntakeItem]:
        """Take an open file: a zip entry by entry, anything else as one file. A file over the
        per-file limit is refused before it is read. `skip`: names already taken (a resumed
        batch goes on where it stopped)."""
        if size > max_file_bytes():
            if name in skip:
                return []
            return [self.reject(name, f"file of {size} bytes exceeds the per-file limit of {max_file_bytes()} bytes",
                                fileobj=fh, staged=staged)]
        head = fh.read(4)
        fh.seek(0)
        if name.lower().endswith(".zip") or (head == b"PK\x03\x04" and is_zip(fh)):
            fh.seek(0)
            return self._take_zip(fh, name, staged=staged, skip=skip)
        if name in skip:
            return []
        return [self.take(fh.read(), name, staged=staged)]

    def _take_zip(self, fh, name: str, *, staged, skip) -> list[IntakeItem]:
        items, entries = [], 0
        for entry in iter_zip(fh, max_file_bytes=max_file_bytes(), max_total_bytes=max_upload_bytes() * 10):
            entries += 1
            label = f"{name}/{entry.name}" if entry.name else name
            if label in skip:
                continue
            if entry.error:
                items.append(self.reject(label, entry.error, data=entry.data, staged=staged))
            else:
                items.append(self.take(entry.data, label, staged=staged))
        if not entries:
            items.append(self.reject(name, "the zip holds no files", staged=staged))
        elif entries > 1 and not skip:  # the zip counted as one file until now
            IntakeBatch.objects.filter(pk=self.batch.pk).update(total=F("total") + entries - 1)
        return items

    def take_any(self, data: bytes, name: str) -> list[IntakeItem]:
        """Bytes in memory (tests, the demo loader): see take_file."""
        return self.take_file(io.BytesIO(data), name, len(data))

    def finish(self) -> IntakeBatch:
        try:
            hooks.run_batch_end_hooks(submission=self.submission)
            refresh_collection_stats(self.submission.collection)
            IntakeBatch.objects.filter(pk=self.batch.pk, total__lt=F("processed")).update(total=F("processed"))  # total not known ahead
            IntakeBatch.objects.filter(pk=self.batch.pk).update(state=IntakeBatch.State.DONE, finished_at=timezone.now())
            self.batch.refresh_from_db()
        finally:
            self.close()
        return self.batch


def content_differences(held: Image, clean: bytes) -> list[str]:
    """What differs between the held image's bytes and `clean` (empty: the same content)."""
    import pydicom

    from curation.dicom.compare import differences

    with storages["archive"].open(held.stored_file.storage_name, "rb") as fh:
        held_ds = pydicom.dcmread(fh)
        return differences(held_ds, pydicom.dcmread(io.BytesIO(clean)))


def conflict_reason(differing: list[str]) -> str:
    pixels = "PixelData" in differing
    headers = [d for d in differing if d != "PixelData"]
    what = "pixel values differ" if pixels else ""
    if headers:
        listed = ", ".join(headers[:8]) + (f" and {len(headers) - 8} more" if len(headers) > 8 else "")
        what = f"{what}; header values differ in {listed}" if what else f"header values differ in {listed}"
    return f"known SOP Instance UID with other content ({what}): kept beside the image and flagged for a curator"


def _strip_name(message: str, name: str) -> str:
    """The engine prefixes messages with the file name; the item already carries it."""
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message


HEAD_BYTES = 4096


def looks_like_dicom(head: bytes) -> bool:
    """A preamble and 'DICM', or a dataset that starts with a group 0002 or 0008 element."""
    if head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"


def quarantine(submission: Submission, batch: IntakeBatch | None, name: str, reason: str, *, data: bytes | None = None,
               fileobj=None, keep_whole: bool | None = None) -> QuarantinedFile:
    """Record a file that was not taken. What a curator needs to judge it is always kept
    (reason, size, sha256, the first bytes); the whole original only when it is plausible
    DICOM under the per-file limit (or `keep_whole`, for a retry), never a zip bomb's output.
    A file object is read in chunks, so a huge file never sits in memory."""
    digest, size, head = hashlib.sha256(), 0, b""
    if data is not None:
        digest.update(data)
        size, head = len(data), data[:HEAD_BYTES]
    elif fileobj is not None:
        fileobj.seek(0)
        while chunk := fileobj.read(1024 * 1024):
            if size < HEAD_BYTES:
                head += chunk[: HEAD_BYTES - size]
            digest.update(chunk)
            size += len(chunk)
    whole = size <= max_file_bytes() and (keep_whole if keep_whole is not None else looks_like_dicom(head))
    storage_name, kept = "", 0
    if size:
        target = f"rejected/{submission.pk}/{secrets.token_hex(16)}"
        if not whole:
            storage_name, kept = storages["quarantine"].save(target, ContentFile(head)), len(head)
        elif data is not None:
            storage_name, kept = storages["quarantine"].save(target, ContentFile(data)), size
        else:
            fileobj.seek(0)
            storage_name, kept = storages["quarantine"].save(target, File(fileobj)), size
    return QuarantinedFile.objects.create(
        submission=submission,
        batch=batch,
        original_name=name[:500],
        storage_name=storage_name,
        size=size,
        kept_bytes=kept,
        sha256=digest.hexdigest() if size else "",
        reason=reason,
    )


def start_batch(*, submission: Submission, source: str, actor=None, label: str = "", total: int = 0) -> IntakeBatch:
    return IntakeBatch.objects.create(
        submission=submission, source=source, created_by=actor, label=label[:200], total=total,
        state=IntakeBatch.State.RUNNING, started_at=timezone.now(),
    )


