"""Collection figures computed from the index (subjects, studies, series, images, bytes)."""
from django.db.models import Count, Sum

from ..models import Collection, Series, Study, Subject


def refresh_collection_stats(collection: Collection) -> Collection:
    """Recount from the index. Cheap: it aggregates series rows, not images."""
    series = Series.objects.filter(collection=collection).aggregate(n=Count("id"), images=Sum("image_count"), size=Sum("total_bytes"))
    Collection.objects.filter(pk=collection.pk).update(
        subject_count=Subject.objects.filter(collection=collection).count(),
        study_count=Study.objects.filter(collection=collection).count(),
        series_count=series["n"] or 0,
        image_count=series["images"] or 0,
        total_bytes=series["size"] or 0,
    )
    collection.refresh_from_db()
    return collection


def images_per_modality(collection: Collection) -> list[tuple[str, int]]:
    rows = (
        Series.objects.filter(collection=collection)
        .values("modality")
        .annotate(images=Sum("image_count"))
        .order_by("-images", "modality")
    )
    return [(r["modality"] or "?", r["images"] or 0) for r in rows]


def indexed_values(collection: Collection, field: str) -> list[str]:
    return sorted(
        v for v in Series.objects.filter(collection=collection).order_by().values_list(field, flat=True).distinct() if v
    )
