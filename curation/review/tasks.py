"""Review tasks: OCR of likely burned-in text and the projection montage of each image class,
enqueued at intake; thumbnails (rendered on demand by the pages, or here for old queued tasks).
Tasks take primary keys and are safe to run twice."""
import logging

from django.db import transaction
from django.db.models import Count, F

from collections_app.models import Image
from curation.dicom import ocr, render

from . import derived
from .models import ClassMember, ImageClass, SeriesReview, TextDetection

logger = logging.getLogger(__name__)


def render_thumbnail(image_id: int) -> bool:
    image = Image.objects.select_related("stored_file").filter(pk=image_id).first()
    if image is None:
        return False
    try:
        derived.thumbnail(image.stored_file)
    except render.RenderError as exc:
        logger.info("thumbnail of image %s: %s", image_id, exc)
        return False
    return True


def render_images(image_ids: list, ocr_ids: list = ()) -> int:
    """Thumbnails of a chunk's images of one series, then OCR of those likely to carry text
    (intake queues one such task per series per chunk). Returns thumbnails rendered."""
    rendered = sum(1 for pk in image_ids if render_thumbnail(pk))
    for pk in ocr_ids:
        detect_text(pk)
    return rendered


def review_chunk(class_ids: list, ocr_ids: list = ()) -> int:
    """What intake queues (hooks.queue_due): OCR of the images likely to carry text (so the
    queue order knows where text is), then the montage of each class. Returns montages rendered."""
    for pk in ocr_ids:
        detect_text(pk)
    if ocr_ids:
        ClassMember.objects.filter(image_id__in=ocr_ids, needs_ocr=True).update(needs_ocr=False)
    return sum(1 for pk in class_ids if render_class(pk))


def render_class(class_id: int) -> bool:
    """Render (or find cached) the max | mean | min montage of a class and record which files it
    shows. False when the class is gone or none of its images can be read."""
    cls = ImageClass.objects.filter(pk=class_id).first()
    if cls is None:
        return False
    from collections_app.models import StoredFile

    stored = list(StoredFile.objects.filter(images__review_class__image_class_id=class_id)
                  .order_by("images__instance_number", "images__pk"))
    if not stored:
        return False
    try:
        _data, key, unusable = derived.montage(stored)
    except render.RenderError as exc:
        logger.info("montage of class %s: %s", class_id, exc)
        ImageClass.objects.filter(pk=class_id).update(montage_key="", montage_error=str(exc)[:300],
                                                      rendered_count=len(stored))
        return False
    error = f"{unusable} of {len(stored)} images could not be read or differ in size" if unusable else ""
    # the images read, not image_count now: one that joined meanwhile leaves the class due
    ImageClass.objects.filter(pk=class_id).update(montage_key=key, montage_error=error, rendered_count=len(stored))
    return True


def detect_text(image_id: int) -> int:
    """OCR the image's preview; store the boxes and bump the series' priority. Returns boxes found."""
    image = Image.objects.select_related("stored_file", "series").filter(pk=image_id).first()
    if image is None:
        return 0
    existing = TextDetection.objects.filter(image=image, stored_file=image.stored_file).first()
    if existing is not None:
        return len(existing.boxes)
    boxes, error = [], ""
    try:
        ds = derived.read_dataset(image.stored_file)
        frames = render.frame_count(ds)
        rendered = render.render(ds, frame=frames // 2 if frames > 1 else 0, max_size=render.PREVIEW_SIZE)
        scale = rendered.columns / rendered.image.width
        boxes = [b.as_dict() for b in ocr.find_text(rendered.image, scale=scale)]
    except render.RenderError as exc:
        error = str(exc)
    except Exception as exc:  # tesseract missing, timeout…: recorded, the queue still works
        error = f"{type(exc).__name__}: {exc}"
    with transaction.atomic():
        TextDetection.objects.get_or_create(image=image, stored_file=image.stored_file,
                                            defaults={"boxes": boxes, "error": error[:2000]})
        refresh_text_count(image.series_id)
    return len(boxes)


def refresh_text_count(series_id: int) -> None:
    # only detections on each image's current file count
    n = (TextDetection.objects.filter(image__series_id=series_id, stored_file_id=F("image__stored_file_id"))
         .exclude(boxes=[]).aggregate(n=Count("image", distinct=True))["n"])
    SeriesReview.objects.filter(series_id=series_id).update(text_images=n or 0)
    per_class = dict(TextDetection.objects.filter(image__series_id=series_id, stored_file_id=F("image__stored_file_id"))
                     .exclude(boxes=[]).values("image__review_class__image_class")
                     .annotate(n=Count("image", distinct=True)).values_list("image__review_class__image_class", "n"))
    for cls_id in ImageClass.objects.filter(series_id=series_id).values_list("pk", flat=True):
        ImageClass.objects.filter(pk=cls_id).update(text_images=per_class.get(cls_id, 0))
