"""The intake hook: a review row per series, each new image in its equivalence class, then a
task for each chunk intake takes (per file for corrections; one per 64 classes when a chunk
touches more) that OCRs the images likely to carry text and renders the montage of each class
touched.

Nothing is rendered here. Per chunk it costs a constant number of statements (see
assign_classes), and one queue insert per task: with django-q's ORM broker on our own
database the task rows are inserted inside the file's transaction (they commit, or vanish, with
the file, and django-q does not reconnect to the database per task as it does outside a
transaction); with any other broker, or synchronous tasks, they are enqueued after the commit.
"""
from functools import partial

from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django_q.tasks import async_task

from curation.dicom import ocr

from . import classes
from .models import ClassMember, ImageClass, SeriesReview

TAGS = {"(0028,0301)": "burned_in_annotation", "(0008,0008)": "image_type", "(0008,0064)": "conversion_type"}

_broker = None
TASK_CLASSES = 64  # montages per review task: a chunk spread over many series still queues few tasks


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
        [ClassMember(image_id=image_id, image_class_id=ids[(sid, g.key)]) for sid, _, g in groups for image_id in g.image_ids],
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
    classes (assign_classes), and one task (per TASK_CLASSES classes) that OCRs the images likely
    to carry text and renders the montage of each class the chunk touched. Thumbnails are
    rendered on demand."""
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
    class_ids = sorted({class_id for _series, class_id in assign_classes(sources, likely)})
    ocr_ids = [pk for row in by_series.values() for pk in row["ocr"]]
    # one task per TASK_CLASSES classes the chunk touched (a chunk usually holds one or a few
    # series: one task), the OCR of its likely images with the first
    for start in range(0, max(len(class_ids), 1), TASK_CLASSES):
        _enqueue("curation.review.tasks.review_chunk", class_ids[start:start + TASK_CLASSES],
                 ocr_ids if start == 0 else [])
