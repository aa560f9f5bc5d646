"""Corrections: rewrite images into new immutable files, keep the index right, audit each edit.

`apply_correction` is the one primitive every correction uses (tag edits, proposed fixes, PHI
dispositions, pixel masks). The old bytes are never touched, so undo is a new correction that
points images back at their earlier files, and published versions keep their own bytes.
"""
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydicom import dcmread
from pydicom.dataset import Dataset

from collections_app.models import Image, StoredFile
from collections_app.services.indexing import reindex_image
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import store_bytes
from curation.deid import write_dicom
from curation.deid.engine import Deidentifier
from tcia.core.audit import log

from .. import hooks
from ..models import Correction, CorrectionFile


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


def apply_to_image(correction: Correction, image: Image, mutate: Mutation) -> CorrectionFile | None:
    """Rewrite one image. Each image commits alone, so a long bulk correction shows progress
    and a failure leaves the images already done consistent and recorded."""
    ds = read_image_dataset(image)
    changes = mutate(ds, image)
    Correction.objects.filter(pk=correction.pk).update(done=F("done") + 1)
    if not changes:
        return None
    out = io.BytesIO()
    write_dicom(ds, out)
    with transaction.atomic():
        new_file = store_bytes(out.getvalue())
        old_file = image.stored_file
        if new_file.pk == old_file.pk:
            return None
        image = reindex_image(image=image, ds=ds, stored_file=new_file)
        record = CorrectionFile.objects.create(
            correction=correction, image=image, old_file=old_file, new_file=new_file,
            changes=[{"tag_path": c.tag_path, "old": c.old, "new": c.new} for c in changes],
        )
        if hooks.has_ingest_hooks():
            submission = getattr(correction.collection, "submission", None)
            hooks.run_ingest_hooks(submission=submission, image=image, elements=Deidentifier.elements(ds), replaced_file=old_file,
                                   dataset=ds)
    return record


def run_correction(correction: Correction, images: Iterable[Image], mutate: Mutation) -> Correction:
    Correction.objects.filter(pk=correction.pk).update(state=Correction.State.RUNNING)
    try:
        for image in images:
            apply_to_image(correction, image, mutate)
    except Exception as exc:
        Correction.objects.filter(pk=correction.pk).update(
            state=Correction.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    with transaction.atomic():
        Correction.objects.filter(pk=correction.pk).update(state=Correction.State.APPLIED, finished_at=timezone.now())
        correction.refresh_from_db()
        files = correction.files.count()
        log(
            f"correction.{correction.kind}",
            actor=correction.actor,
            obj=correction,
            reason=correction.reason,
            summary=correction.summary,
            scope=correction.scope,
            files=files,
            changes=[
                {"image": f.image.sop_instance_uid, "old_sha256": f.old_file.sha256, "new_sha256": f.new_file.sha256,
                 "changes": f.changes}
                for f in correction.files.select_related("image", "old_file", "new_file")[:1000]
            ],
        )
    refresh_collection_stats(correction.collection)
    return correction


def apply_correction(*, collection, images: Iterable[Image], mutate: Mutation, actor, reason: str, kind: str,
                     summary: str, scope: str = "", spec=None) -> Correction:
    """Create and run a correction in this process (tasks call run_correction themselves)."""
    images = list(images)
    correction = create_correction(collection=collection, kind=kind, summary=summary, reason=reason, actor=actor,
                                   scope=scope, spec=spec, total=len(images))
    return run_correction(correction, images, mutate)


def undo(*, correction: Correction, actor, reason: str) -> Correction:
    """A new correction that puts every image the old one touched back on its earlier bytes."""
    if correction.state != Correction.State.APPLIED:
        raise ValueError("Only an applied correction can be undone.")
    records = list(correction.files.select_related("image", "old_file", "new_file"))
    reverse = create_correction(
        collection=correction.collection, kind=Correction.Kind.UNDO, summary=f"Undo: {correction.summary}",
        reason=reason, actor=actor, scope=correction.scope, undoes=correction, total=len(records),
    )
    Correction.objects.filter(pk=reverse.pk).update(state=Correction.State.RUNNING)
    for record in records:
        image = Image.objects.get(pk=record.image_id)
        if image.stored_file_id != record.new_file_id:
            continue  # changed again since; leave the later correction in place
        ds = read_image_dataset(image, record.old_file)
        with transaction.atomic():
            image = reindex_image(image=image, ds=ds, stored_file=record.old_file)
            CorrectionFile.objects.create(
                correction=reverse, image=image, old_file=record.new_file, new_file=record.old_file,
                changes=[{"tag_path": c["tag_path"], "old": c["new"], "new": c["old"]} for c in record.changes],
            )
            if hooks.has_ingest_hooks():
                hooks.run_ingest_hooks(submission=getattr(correction.collection, "submission", None), image=image,
                                       elements=Deidentifier.elements(ds), replaced_file=record.new_file, dataset=ds)
        Correction.objects.filter(pk=reverse.pk).update(done=F("done") + 1)
    Correction.objects.filter(pk=reverse.pk).update(state=Correction.State.APPLIED, finished_at=timezone.now())
    reverse.refresh_from_db()
    log("correction.undo", actor=actor, obj=reverse, reason=reason, undoes=correction.pk, files=reverse.files.count())
    refresh_collection_stats(correction.collection)
    return reverse
