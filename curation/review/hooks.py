"""The intake hook: a review row per series, then thumbnail and OCR tasks for the new images
(per file for corrections; one task per series for each chunk intake takes).

Nothing is rendered here. Per file it costs one SELECT (the series' review row, created by the
first file of a series) and one queue insert per task: with django-q's ORM broker on our own
database the task rows are inserted inside the file's transaction (they commit, or vanish, with
the file, and django-q does not reconnect to the database per task as it does outside a
transaction); with any other broker, or synchronous tasks, they are enqueued after the commit.
"""
from functools import partial

from django.db import DEFAULT_DB_ALIAS, transaction
from django_q.tasks import async_task

from curation.dicom import ocr

from .models import SeriesReview

TAGS = {"(0028,0301)": "burned_in_annotation", "(0008,0008)": "image_type", "(0008,0064)": "conversion_type"}

_broker = None


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


def on_ingest(*, submission, image, elements, replaced_file=None, **_):
    series = image.series
    likely = ocr.likely_burned_in(modality=series.modality, sop_class_uid=image.sop_class_uid, **_signals(elements))
    flagged = SeriesReview.objects.filter(series_id=series.pk).values_list("likely_text", flat=True).first()
    if flagged is None:
        SeriesReview.objects.bulk_create(
            [SeriesReview(series_id=series.pk, collection_id=series.collection_id, likely_text=likely)],
            ignore_conflicts=True)
    if likely and not flagged:
        SeriesReview.objects.filter(series_id=series.pk, likely_text=False).update(likely_text=True)
    _enqueue("curation.review.tasks.render_thumbnail", image.pk)
    if likely:
        _enqueue("curation.review.tasks.detect_text", image.pk)


def on_ingest_many(*, submission, entries):
    """A chunk of new files: the review rows of its series in one INSERT, and one task per series
    that renders the chunk's thumbnails of that series (and OCRs the images likely to carry text)."""
    by_series: dict = {}
    for entry in entries:
        image = entry.image
        series = image.series
        likely = ocr.likely_burned_in(modality=series.modality, sop_class_uid=image.sop_class_uid, **_signals(entry.elements))
        row = by_series.setdefault(series.pk, {"collection_id": series.collection_id, "images": [], "ocr": []})
        row["images"].append(image.pk)
        if likely:
            row["ocr"].append(image.pk)
    SeriesReview.objects.bulk_create(
        [SeriesReview(series_id=pk, collection_id=row["collection_id"], likely_text=bool(row["ocr"]))
         for pk, row in by_series.items()], ignore_conflicts=True)
    flagged = [pk for pk, row in by_series.items() if row["ocr"]]
    if flagged:
        SeriesReview.objects.filter(series_id__in=flagged, likely_text=False).update(likely_text=True)
    for pk, row in by_series.items():
        _enqueue("curation.review.tasks.render_images", row["images"], row["ocr"])
