"""The intake hook: a review row per series, then thumbnail and OCR tasks after the commit."""
from functools import partial

from django.db import transaction
from django_q.tasks import async_task

from curation.dicom import ocr

from .models import SeriesReview

TAGS = {"(0028,0301)": "burned_in_annotation", "(0008,0008)": "image_type", "(0008,0064)": "conversion_type"}


def _signals(elements) -> dict:
    found = {}
    for path, _vr, value in elements or ():
        key = TAGS.get(path)
        if key is not None:
            found[key] = "\\".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value or "")
    return found


def on_ingest(*, submission, image, elements, replaced_file=None, **_):
    series = image.series
    likely = ocr.likely_burned_in(modality=series.modality, sop_class_uid=image.sop_class_uid, **_signals(elements))
    review, created = SeriesReview.objects.get_or_create(
        series=series, defaults={"collection_id": series.collection_id, "likely_text": likely})
    if likely and not review.likely_text:
        SeriesReview.objects.filter(pk=review.pk).update(likely_text=True)
    transaction.on_commit(partial(async_task, "curation.review.tasks.render_thumbnail", image.pk))
    if likely:
        transaction.on_commit(partial(async_task, "curation.review.tasks.detect_text", image.pk))
