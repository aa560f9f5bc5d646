"""Corrections: rewrite images into new immutable files, keep the index right, audit each edit.

A correction is all or nothing: every new file is written first (phase 1), then one transaction
points the index at them (phase 2). Any failure, in either phase, switches nothing, removes the
new files no row names, and leaves the correction "failed" with a message for the curator.

`apply_correction` is the one primitive every correction uses (tag edits, proposed fixes, PHI
dispositions, pixel masks). The old bytes are never touched, so undo is a new correction that
points images back at their earlier files, and published versions keep their own bytes.
"""
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydicom import dcmread
from pydicom.dataset import Dataset

from collections_app.models import Image, StoredFile
from collections_app.services.indexing import reindex_image
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import digest_bytes, discard_blob, storage_name_for, store_many, write_blob
from curation.deid import write_dicom
from curation.deid.engine import Deidentifier
from tcia.core.audit import log

from .. import hooks
from ..models import Correction, CorrectionFile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    tag_path: str
    old: str
    new: str


# A mutation edits the dataset in place and returns what it changed (empty: leave the image).
Mutation = Callable[[Dataset, Image], list[Change]]


def read_stored_dataset(stored: StoredFile) -> Dataset:
    """A stored file's dataset (stored files are well-formed: written by intake or a correction)."""
    with stored.open() as fh:
        return dcmread(io.BytesIO(fh.read()))


def read_image_dataset(image: Image, stored_file: StoredFile | None = None) -> Dataset:
    return read_stored_dataset(stored_file or image.stored_file)



def create_correction(*, collection, kind: str, summary: str, reason: str, actor, scope: str = "", spec=None,
                      undoes=None, total: int = 0) -> Correction:
    if not reason.strip():
        raise ValueError("A correction needs a reason.")
    return Correction.objects.create(
        collection=collection, kind=kind, summary=summary[:300], reason=reason, scope=scope[:200], spec=spec or {},
        undoes=undoes, total=total, actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


class CorrectionFailed(ValueError):
    """A correction stopped; nothing was switched. `message` is for the curator (no raw exception text);
    a ValueError, so views that show a ValueError's text show it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


FAILED_MESSAGE = ("The correction could not be applied, so nothing was changed: every file is as it was. "
                  "Retry it; if it fails again, tell an administrator (correction {pk}).")


@dataclass
class _Planned:
    image_id: int
    old_file_id: int
    digest: object  # collections_app.services.storage.Digest
    changes: list


def _encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    write_dicom(ds, out)
    return out.getvalue()


def _write_new_files(correction: Correction, images: Iterable[Image], mutate: Mutation, created: list) -> list[_Planned]:
    """Phase 1: read, mutate and write each changed image's new bytes (no index change). The
    names of blobs this call created are appended to `created` as they are written, so a
    failure part-way can remove exactly those."""
    storage = storages["archive"]
    planned = []
    for image in images:
        ds = read_image_dataset(image)
        changes = mutate(ds, image)
        Correction.objects.filter(pk=correction.pk).update(done=F("done") + 1)
        if not changes:
            continue
        data = _encode(ds)
        digest = digest_bytes(data)
        if digest.sha256 == image.stored_file.sha256:
            continue
        name = storage_name_for(digest.sha256)
        existed = storage.exists(name)
        write_blob(data)
        if not existed:
            created.append(digest.sha256)
        planned.append(_Planned(image.pk, image.stored_file_id, digest, changes))
    return planned


def _switch(correction: Correction, planned: list[_Planned]) -> None:
    """Phase 2, inside the caller's transaction: rows for the new files, the index pointed at
    them, one CorrectionFile per image, the ingest hooks. An image changed by someone else since
    phase 1 read it fails the whole correction."""
    rows = store_many([p.digest for p in planned])
    submission = getattr(correction.collection, "submission", None)
    for p in planned:
        image = Image.objects.select_for_update().select_related("stored_file").get(pk=p.image_id)
        if image.stored_file_id != p.old_file_id:
            raise CorrectionFailed("An image changed while the correction ran; nothing was changed. Retry it.")
        new_file = rows[p.digest.sha256]
        ds = read_stored_dataset(new_file)
        old_file = image.stored_file
        image = reindex_image(image=image, ds=ds, stored_file=new_file)
        CorrectionFile.objects.create(
            correction=correction, image=image, old_file=old_file, new_file=new_file,
            changes=[{"tag_path": c.tag_path, "old": c.old, "new": c.new} for c in p.changes],
        )
        if hooks.has_ingest_hooks():
            hooks.run_ingest_hooks(submission=submission, image=image, elements=Deidentifier.elements(ds),
                                   replaced_file=old_file, dataset=ds)


def _audit(correction: Correction) -> None:
    correction.refresh_from_db()
    log(
        f"correction.{correction.kind}",
        actor=correction.actor,
        obj=correction,
        reason=correction.reason,
        summary=correction.summary,
        scope=correction.scope,
        files=correction.files.count(),
        changes=[
            {"image": f.image.sop_instance_uid, "old_sha256": f.old_file.sha256, "new_sha256": f.new_file.sha256,
             "changes": f.changes}
            for f in correction.files.select_related("image", "old_file", "new_file")[:1000]
        ],
    )


def mark_failed(correction: Correction, exc: Exception, created: list) -> CorrectionFailed:
    """Record the failure for the curator, remove the blobs this run wrote that no row names."""
    for sha256 in created:
        try:
            discard_blob(sha256)
        except Exception:  # noqa: BLE001 - a blob left behind is only garbage; the failure is what matters
            logger.warning("correction %s: could not remove an unused new file", correction.pk)
    message = exc.message if isinstance(exc, CorrectionFailed) else FAILED_MESSAGE.format(pk=correction.pk)
    # The exception's type only: its text may quote header values.
    logger.warning("correction %s failed (%s); nothing was switched", correction.pk, type(exc).__name__)
    Correction.objects.filter(pk=correction.pk).update(state=Correction.State.FAILED, error=message,
                                                       finished_at=timezone.now())
    return exc if isinstance(exc, CorrectionFailed) else CorrectionFailed(message)


def run_correction(correction: Correction, images: Iterable[Image], mutate: Mutation) -> Correction:
    """All or nothing: write every new file first, then switch the index in one transaction. On
    any failure nothing is switched, the new files are removed and CorrectionFailed is raised."""
    Correction.objects.filter(pk=correction.pk).update(state=Correction.State.RUNNING, done=0, error="",
                                                       finished_at=None)
    created: list = []
    try:
        planned = _write_new_files(correction, images, mutate, created)
        with transaction.atomic():
            _switch(correction, planned)
            Correction.objects.filter(pk=correction.pk).update(state=Correction.State.APPLIED, finished_at=timezone.now())
            _audit(correction)
            refresh_collection_stats(correction.collection)
    except Exception as exc:
        raise mark_failed(correction, exc, created) from exc
    return correction


def retry(correction: Correction, images: Iterable[Image], mutate: Mutation) -> Correction:
    """Run a failed correction again (a failed one switched nothing, so it starts afresh)."""
    if correction.state != Correction.State.FAILED:
        raise ValueError("Only a failed correction can be retried.")
    return run_correction(correction, images, mutate)


def apply_correction(*, collection, images: Iterable[Image], mutate: Mutation, actor, reason: str, kind: str,
                     summary: str, scope: str = "", spec=None) -> Correction:
    """Create and run a correction in this process (tasks call run_correction themselves)."""
    images = list(images)
    correction = create_correction(collection=collection, kind=kind, summary=summary, reason=reason, actor=actor,
                                   scope=scope, spec=spec, total=len(images))
    return run_correction(correction, images, mutate)


def undo(*, correction: Correction, actor, reason: str) -> Correction:
    """A new correction that puts every image the old one touched back on its earlier bytes, in
    one transaction (no new file is written: the earlier bytes are still stored)."""
    if correction.state != Correction.State.APPLIED:
        raise ValueError("Only an applied correction can be undone.")
    records = list(correction.files.select_related("image", "old_file", "new_file"))
    reverse = create_correction(
        collection=correction.collection, kind=Correction.Kind.UNDO, summary=f"Undo: {correction.summary}",
        reason=reason, actor=actor, scope=correction.scope, undoes=correction, total=len(records),
    )
    Correction.objects.filter(pk=reverse.pk).update(state=Correction.State.RUNNING)
    submission = getattr(correction.collection, "submission", None)
    try:
        with transaction.atomic():
            for record in records:
                image = Image.objects.select_for_update().get(pk=record.image_id)
                if image.stored_file_id != record.new_file_id:
                    continue  # changed again since; leave the later correction in place
                ds = read_image_dataset(image, record.old_file)
                image = reindex_image(image=image, ds=ds, stored_file=record.old_file)
                CorrectionFile.objects.create(
                    correction=reverse, image=image, old_file=record.new_file, new_file=record.old_file,
                    changes=[{"tag_path": c["tag_path"], "old": c["new"], "new": c["old"]} for c in record.changes],
                )
                if hooks.has_ingest_hooks():
                    hooks.run_ingest_hooks(submission=submission, image=image, elements=Deidentifier.elements(ds),
                                           replaced_file=record.new_file, dataset=ds)
            Correction.objects.filter(pk=reverse.pk).update(state=Correction.State.APPLIED, done=len(records),
                                                            finished_at=timezone.now())
            reverse.refresh_from_db()
            log("correction.undo", actor=actor, obj=reverse, reason=reason, undoes=correction.pk,
                files=reverse.files.count())
            refresh_collection_stats(correction.collection)
    except Exception as exc:
        raise mark_failed(reverse, exc, []) from exc
    return reverse
