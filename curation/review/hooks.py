"""The intake hook: a review row per series, then thumbnail and OCR tasks for the new image.

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


def _enqueue(func: str, image_id: int) -> None:
    broker = _in_transaction_broker()
    if broker is not None:
        async_task(func, image_id, broker=broker)
    else:
        transaction.on_commit(partial(async_task, func, image_id))


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
