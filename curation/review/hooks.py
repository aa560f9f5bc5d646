"""The intake hook: a review row per series, each new image in its equivalence class; the
rendering (OCR of the images likely to carry text, the montage of each class) is queued once the
batch is done, so it never competes with intake for the machine, and each class is rendered once
per batch however many chunks fed it (a chunk's task re-read every image the class had so far).
A long batch queues what is due every RENDER_EVERY seconds too, so the queue fills as it goes. A
corrected file (one at a time, new bytes) queues its class at once.

What is due is in the database, not in a task: a class whose image_count differs from the count
its montage was rendered from (rendered_count), an image with needs_ocr set. queue_due finds
them for a collection; a crash between a chunk and the batch's end loses nothing.

Nothing is rendered here. Per chunk it costs a constant number of statements (see
assign_classes). Tasks are enqueued with django-q's ORM broker on our own database inside the
current transaction (they commit, or vanish, with it, and django-q does not reconnect to the
database per task as it does outside a transaction); with any other broker, or synchronous
tasks, after the commit.
"""
import time
from functools import partial

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.utils import timezone
from django_q.tasks import async_task

from curation.dicom import ocr

from . import classes
from .models import ClassMember, ImageClass, SeriesReview

TAGS = {"(0028,0301)": "burned_in_annotation", "(0008,0008)": "image_type", "(0008,0064)": "conversion_type"}

_broker = None
TASK_CLASSES = 64  # montages per review task
TASK_OCR = 16  # images OCRed per review task (tesseract: ~0.1-0.5 s each)
RENDER_EVERY = 60  # seconds: while a collection's intake goes on, what is due is queued this often
_runs: dict = {}  # collection id -> [monotonic time of the last queue (or of the run's start), of the last chunk]


def _signals(elements) -> dict:
    found = {}
    for path, _vr, value in elements or ():
        key = TAGS.get(path)
        if key is not None:
            found[key] = "\\".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value or "")
    return found


def _in_transaction_broker():
    """django-q's ORM broker when its queue table is in the database intake writes to and tasks
    are not run synchronously; None otherwise."""
    global _broker
    from django_q.brokers.orm import ORM
    from django_q.conf import Conf

    if Conf.SYNC or Conf.ORM != DEFAULT_DB_ALIAS or transaction.get_autocommit():
        return None
    if _broker is None:
        from django_q.brokers import get_broker

        _broker = get_broker()
    return _broker if isinstance(_broker, ORM) else None


def _enqueue(func: str, *args) -> None:
    broker = _in_transaction_broker()
    if broker is not None:
        async_task(func, *args, broker=broker)
    else:
        transaction.on_commit(partial(async_task, func, *args))


def _likely(image, series, elements) -> bool:
    return ocr.likely_burned_in(modality=series.modality, sop_class_uid=image.sop_class_uid, **_signals(elements))


def _index_signature(image) -> classes.Signature:
    series = image.series
    return classes.index_signature(
        modality=series.modality, sop_class_uid=image.sop_class_uid, rows=image.rows, columns=image.columns,
        frames=image.number_of_frames, photometric=image.photometric_interpretation,
        body_part=getattr(series, "body_part_examined", ""), has_position=bool(image.image_position_patient))


def assign_classes(items, likely=frozenset()) -> list[tuple[int, int]]:
    """Put new images in their classes: `items` are (image, source) pairs, the source a Signature,
    a dataset or None (then the index's own fields); `likely` the ids of images likely to carry text. Constant statements per chunk: one INSERT of the class
    rows (existing ones kept), one SELECT of their ids, one INSERT of the memberships, one UPDATE
    of the classes touched (each image count counted from the memberships) and one of those now
    likely to carry text. Returns (series id, class id) of the classes."""
    by_series: dict = {}
    for image, source in items:
        if isinstance(source, classes.Signature):
            sig = source
        else:
            sig = classes.signature(source) if source is not None else _index_signature(image)
        by_series.setdefault((image.series_id, image.series.collection_id), []).append((image.pk, sig))
    groups = []  # (series id, collection id, Group)
    for (series_id, collection_id), entries in by_series.items():
        groups.extend((series_id, collection_id, g) for g in classes.group(entries).values())
    if not groups:
        return []
    ImageClass.objects.bulk_create(
        [ImageClass(series_id=sid, collection_id=cid, key=g.key, geometry=g.geometry, attributes=g.attributes)
         for sid, cid, g in groups], ignore_conflicts=True)
    ids = {(sid, key): pk for pk, sid, key in ImageClass.objects.filter(
        series_id__in={sid for sid, _, _ in groups}, key__in={g.key for _, _, g in groups}).values_list("pk", "series_id", "key")}
    ClassMember.objects.bulk_create(
        [ClassMember(image_id=image_id, image_class_id=ids[(sid, g.key)], needs_ocr=image_id in likely)
         for sid, _, g in groups for image_id in g.image_ids],
        ignore_conflicts=True)
    # counted, not incremented, so an image already in its class is never counted twice; one
    # UPDATE for every class of the chunk, one more for those now likely to carry text
    members = (ClassMember.objects.filter(image_class=OuterRef("pk")).order_by().values("image_class")
               .annotate(n=Count("pk")).values("n"))
    touched = sorted({ids[(sid, g.key)] for sid, _, g in groups})
    ImageClass.objects.filter(pk__in=touched).update(image_count=Subquery(members), updated_at=timezone.now())
    if likely:
        texts = sorted({ids[(sid, g.key)] for sid, _, g in groups if any(i in likely for i in g.image_ids)})
        if texts:
            ImageClass.objects.filter(pk__in=texts, likely_text=False).update(likely_text=True)
    return [(sid, ids[(sid, g.key)]) for sid, _, g in groups]


def on_ingest(*, submission, image, elements, replaced_file=None, dataset=None, **_):
    """One file: a new image joins its class; a corrected one (new bytes) renews its class's
    montage and, when it is likely to carry text, its OCR."""
    series = image.series
    likely = _likely(image, series, elements)
    flagged = SeriesReview.objects.filter(series_id=series.pk).values_list("likely_text", flat=True).first()
    if flagged is None:
        SeriesReview.objects.bulk_create(
            [SeriesReview(series_id=series.pk, collection_id=series.collection_id, likely_text=likely)],
            ignore_conflicts=True)
    if likely and not flagged:
        SeriesReview.objects.filter(series_id=series.pk, likely_text=False).update(likely_text=True)
    class_id = ClassMember.objects.filter(image_id=image.pk).values_list("image_class_id", flat=True).first()
    if class_id is None:
        class_id = assign_classes([(image, dataset)], {image.pk} if likely else frozenset())[0][1]
    elif likely:
        ImageClass.objects.filter(pk=class_id, likely_text=False).update(likely_text=True)
    _enqueue("curation.review.tasks.review_chunk", [class_id], [image.pk] if likely else [])


def on_ingest_many(*, submission, entries):
    """A chunk of new files: the review rows of its series in one INSERT, its images in their
    classes (assign_classes, which marks those likely to carry text for OCR). Their rendering is
    queued at the batch's end (on_batch_end), or while it goes on every RENDER_EVERY seconds.
    Thumbnails are rendered on demand."""
    by_series: dict = {}
    likely = set()
    for entry in entries:
        image = entry.image
        series = image.series
        row = by_series.setdefault(series.pk, {"collection_id": series.collection_id, "ocr": []})
        if _likely(image, series, entry.elements):
            row["ocr"].append(image.pk)
            likely.add(image.pk)
    SeriesReview.objects.bulk_create(
        [SeriesReview(series_id=pk, collection_id=row["collection_id"], likely_text=bool(row["ocr"]))
         for pk, row in by_series.items()], ignore_conflicts=True)
    flagged = [pk for pk, row in by_series.items() if row["ocr"]]
    if flagged:
        SeriesReview.objects.filter(series_id__in=flagged, likely_text=False).update(likely_text=True)
    sources = [(e.image, classes.signature_from_elements(e.elements) if e.elements is not None else e.dataset)
               for e in entries]
    assign_classes(sources, likely)
    _render_later(submission.collection_id)


def on_batch_end(*, submission, **_):
    """The batch is done: queue its collection's due rendering."""
    _runs.pop(submission.collection_id, None)
    queue_due(submission.collection_id)


def _render_later(collection_id: int) -> None:
    """Queue what is due once the collection's intake (here, in this process) has gone on for
    RENDER_EVERY seconds since its start or the last queue; a pause of as long starts a new run."""
    now = time.monotonic()
    run = _runs.get(collection_id)
    if run is None or now - run[1] > RENDER_EVERY:
        _runs[collection_id] = [now, now]
        return
    run[1] = now
    if now - run[0] >= RENDER_EVERY:
        run[0] = now
        queue_due(collection_id)


def queue_due(collection_id: int) -> int:
    """Queue review tasks for the collection's due work: the OCR of images likely to carry text
    not OCRed yet (first: the queue's order depends on it), the montage of every class with
    images it was not rendered from. Two queries; one task per TASK_CLASSES classes or TASK_OCR
    images. Returns tasks queued. Safe to call twice: a task finds done work done."""
    ocr_ids = list(ClassMember.objects.filter(needs_ocr=True, image_class__collection_id=collection_id)
                   .order_by("image_id").values_list("image_id", flat=True))
    class_ids = list(ImageClass.objects.filter(collection_id=collection_id).exclude(rendered_count=F("image_count"))
                     .order_by("pk").values_list("pk", flat=True))
    tasks = max(-(-len(class_ids) // TASK_CLASSES), -(-len(ocr_ids) // TASK_OCR))
    for n in range(tasks):
        _enqueue("curation.review.tasks.review_chunk", class_ids[n * TASK_CLASSES:(n + 1) * TASK_CLASSES],
                 ocr_ids[n * TASK_OCR:(n + 1) * TASK_OCR])
    return tasks
