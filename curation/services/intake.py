"""Intake: parse once, de-identify, store content-addressed, index, run hooks.

Every way files arrive (browser upload, `manage.py ingest`, the DICOM receiver) ends in
`intake_bytes`. A file that cannot be taken is quarantined with its reason and the batch goes
on. Originals never leave the quarantine storage and are never logged.
"""
import hashlib
import io
import logging
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from collections_app.models import Image
from collections_app.services.indexing import IndexError_, check_owner, index_dataset
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import store_bytes
from curation.deid import DeidError, read_dicom, write_dicom

from .. import hooks
from ..models import ConflictingFile, IntakeBatch, IntakeItem, QuarantinedFile, Submission
from .deid_config import build_deidentifier
from .zips import is_zip, iter_zip

logger = logging.getLogger(__name__)

REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")


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
        self.engine = build_deidentifier(submission, on_element=self.collector)
        self._index_cache: dict = {}  # series rows found in this batch (see index_dataset)

    def take(self, data: bytes, name: str) -> IntakeItem:
        """Take one file's bytes. Never raises for bad input: it becomes a rejected item."""
        try:
            return self._take(data, name)
        except Rejected as exc:
            return self.reject(name, str(exc), data)
        except IndexError_ as exc:  # e.g. a UID another collection owns
            self._index_cache.clear()
            return self.reject(name, str(exc), data)
        except Exception:
            self._index_cache.clear()  # a rolled-back transaction may have created cached rows
            raise

    def _take(self, data: bytes, name: str) -> IntakeItem:
        if len(data) > max_file_bytes():
            raise Rejected(f"file of {len(data)} bytes exceeds the per-file limit of {max_file_bytes()} bytes")
        try:
            ds = read_dicom(data, name)
        except DeidError as exc:
            raise Rejected(_strip_name(str(exc), name)) from None
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on broken input
            raise Rejected(f"not readable as DICOM: {type(exc).__name__}") from None
        missing = [k for k in REQUIRED_UIDS if not str(ds.get(k, "") or "").strip()]
        if missing:
            raise Rejected(f"missing required attribute{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        if not ts or not supported_transfer_syntax(ts):
            raise Rejected(f"unsupported transfer syntax {ts or '(none)'}")
        if self.collector is not None:
            self.collector.elements = []
        try:
            result = self.engine.deidentify_dataset(ds, source=name)
        except DeidError as exc:
            raise Rejected(_strip_name(str(exc), name)) from None
        out = io.BytesIO()
        write_dicom(ds, out)
        clean = out.getvalue()
        sop_uid = str(ds.SOPInstanceUID).strip()
        for attempt in (1, 2):
            try:
                return self._file(ds, clean, sop_uid, name, result.warnings)
            except IntegrityError:
                # Another worker indexed the same instance (or its study or series) between our
                # lookup and our insert; the transaction is gone, so look again once.
                self._index_cache.clear()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _file(self, ds, clean: bytes, sop_uid: str, name: str, warnings: list) -> IntakeItem:
        """Index `clean` (the de-identified bytes of `ds`) in one short transaction: a new
        instance, the same content again (unchanged, whatever the encoding), or other content
        under a known SOP Instance UID (a conflict: kept beside the image and flagged)."""
        collection = self.submission.collection
        held = None
        for image in Image.objects.filter(sop_instance_uid=sop_uid).select_related("stored_file"):
            check_owner(image, "SOPInstanceUID", collection)
            held = image
        sha = hashlib.sha256(clean).hexdigest()
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
                if indexed.created and self.collector is not None:
                    hooks.run_ingest_hooks(submission=self.submission, image=image, elements=self.collector.elements,
                                           dataset=ds)
            item = IntakeItem.objects.create(
                batch=self.batch, name=name[:500], outcome=outcome, reason=reason, warnings=warnings[:20],
                image=image, stored_file=stored,
            )
            counter = {"accepted": "accepted", "unchanged": "unchanged", "conflict": "conflicts"}[outcome]
            IntakeBatch.objects.filter(pk=self.batch.pk).update(
                processed=F("processed") + 1, **{counter: F(counter) + 1}
            )
        return item

    def reject(self, name: str, reason: str, data: bytes | None) -> IntakeItem:
        with transaction.atomic():
            quarantined = quarantine(self.submission, self.batch, name, reason, data)
            item = IntakeItem.objects.create(
                batch=self.batch, name=name[:500], outcome=IntakeItem.Outcome.REJECTED, reason=reason, quarantined=quarantined
            )
            IntakeBatch.objects.filter(pk=self.batch.pk).update(processed=F("processed") + 1, rejected=F("rejected") + 1)
        logger.info("intake batch %s: rejected one file (%s)", self.batch.pk, reason.split(":")[0][:80])
        return item

    def take_any(self, data: bytes, name: str) -> list[IntakeItem]:
        """A zip is expanded entry by entry; anything else is one file."""
        if name.lower().endswith(".zip") or (data[:4] == b"PK\x03\x04" and is_zip(io.BytesIO(data))):
            items = []
            for entry in iter_zip(io.BytesIO(data), max_file_bytes=max_file_bytes(), max_total_bytes=max_upload_bytes() * 10):
                label = f"{name}/{entry.name}" if entry.name else name
                if entry.error:
                    items.append(self.reject(label, entry.error, entry.data))
                else:
                    items.append(self.take(entry.data, label))
            return items
        return [self.take(data, name)]

    def finish(self) -> IntakeBatch:
        hooks.run_batch_end_hooks(submission=self.submission)
        refresh_collection_stats(self.submission.collection)
        IntakeBatch.objects.filter(pk=self.batch.pk).update(state=IntakeBatch.State.DONE, finished_at=timezone.now())
        self.batch.refresh_from_db()
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


def quarantine(submission: Submission, batch: IntakeBatch | None, name: str, reason: str, data: bytes | None) -> QuarantinedFile:
    storage_name = ""
    sha = ""
    if data:
        sha = hashlib.sha256(data).hexdigest()
        storage_name = storages["quarantine"].save(f"rejected/{submission.pk}/{secrets.token_hex(16)}", ContentFile(data))
    return QuarantinedFile.objects.create(
        submission=submission,
        batch=batch,
        original_name=name[:500],
        storage_name=storage_name,
        size=len(data or b""),
        sha256=sha,
        reason=reason,
    )


def start_batch(*, submission: Submission, source: str, actor=None, label: str = "", total: int = 0) -> IntakeBatch:
    return IntakeBatch.objects.create(
        submission=submission, source=source, created_by=actor, label=label[:200], total=total,
        state=IntakeBatch.State.RUNNING, started_at=timezone.now(),
    )


def stage_upload(*, submission: Submission, files, actor) -> IntakeBatch:
    """Keep uploaded files in quarantine storage and queue their processing. Returns at once."""
    from django_q.tasks import async_task

    storage = storages["quarantine"]
    batch = IntakeBatch.objects.create(submission=submission, source=IntakeBatch.Source.UPLOAD, created_by=actor)
    staged = []
    for upload in files:
        name = storage.save(f"incoming/{batch.pk}/{secrets.token_hex(12)}", upload)
        staged.append({"storage": name, "name": upload.name[:500]})
    names = ", ".join(s["name"] for s in staged[:3]) + (f" and {len(staged) - 3} more" if len(staged) > 3 else "")
    IntakeBatch.objects.filter(pk=batch.pk).update(staged=staged, label=names[:200], total=len(staged))
    transaction.on_commit(lambda: async_task("curation.tasks.process_batch", batch.pk, task_name=f"intake-batch-{batch.pk}"))
    batch.refresh_from_db()
    return batch


def process_staged_batch(batch_id: int) -> IntakeBatch:
    """Task body: take every staged upload of the batch. Safe to run twice."""
    batch = IntakeBatch.objects.select_related("submission__collection").get(pk=batch_id)
    if batch.state == IntakeBatch.State.DONE:
        return batch
    IntakeBatch.objects.filter(pk=batch.pk).update(state=IntakeBatch.State.RUNNING, started_at=timezone.now())
    storage = storages["quarantine"]
    intake = Intake(batch.submission, batch)
    done = set(batch.items.values_list("name", flat=True))
    try:
        for staged in batch.staged:
            if not storage.exists(staged["storage"]):
                continue  # taken by an earlier run of this task
            if staged["name"] in done:
                storage.delete(staged["storage"])
                continue
            with storage.open(staged["storage"], "rb") as fh:
                data = fh.read()
            items = intake.take_any(data, staged["name"])
            if len(items) > 1:  # a zip: the total grows by its entries
                IntakeBatch.objects.filter(pk=batch.pk).update(total=F("total") + len(items) - 1)
            storage.delete(staged["storage"])
    except Exception as exc:  # noqa: BLE001 - record, then let the queue see the failure
        IntakeBatch.objects.filter(pk=batch.pk).update(
            state=IntakeBatch.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    return intake.finish()
