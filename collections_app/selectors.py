"""Reads shared by the public pages, downloads and both APIs.

"Released" data is what the public API and downloads serve: series with a release date in a
collection whose status is public. The files of a series are those frozen in the latest
published version of its collection that holds the series; series never frozen into a
version (e.g. in tests or before the publication flow) fall back to the images' current files.
"""
from dataclasses import dataclass

from django.db.models import QuerySet

from .models import PUBLIC_STATUSES, CollectionVersion, Image, Series, StoredFile, VersionEntry


def released_series(user=None, *, catalogue: bool = False) -> QuerySet:
    """Released series whose data `user` may read (collections_app.access.data_collections).

    catalogue=True widens this to every released series of a collection the user may see,
    including limited-access ones whose agreement the user has not accepted: only for figures
    and value lists that name no subject, study or series (NBIA counts), and for downloads that
    then refuse with the way forward (log in, accept the agreement)."""
    from .access import data_collections

    base = Series.objects.visible_to(user) if catalogue else Series.objects.filter(collection__in=data_collections(user))
    return base.filter(date_released__isnull=False, collection__status__in=PUBLIC_STATUSES)


@dataclass(frozen=True)
class SeriesFile:
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    acquisition_number: int | None
    stored_file: StoredFile


def latest_version_with_series(series: Series) -> CollectionVersion | None:
    return (
        CollectionVersion.objects.filter(collection_id=series.collection_id, withdrawn_at__isnull=True, entries__series=series)
        .order_by("-number")
        .first()
    )


def series_files(series: Series, version: CollectionVersion | None = None) -> list[SeriesFile]:
    """The files of `series` in `version` (default: the latest version holding it), sorted by
    InstanceNumber with nulls first, then SOP Instance UID, as NBIA orders them."""
    version = version or latest_version_with_series(series)
    out = []
    if version is not None:
        # The manifest carries the attributes frozen with each file: a later correction of the
        # index never renames an old version's files.
        for entry in VersionEntry.objects.filter(version=version, series=series).select_related("stored_file"):
            out.append(
                SeriesFile(entry.sop_instance_uid, entry.sop_class_uid, entry.instance_number,
                           entry.acquisition_number, entry.stored_file)
            )
    else:
        for image in Image.objects.filter(series=series).select_related("stored_file"):
            out.append(
                SeriesFile(image.sop_instance_uid, image.sop_class_uid, image.instance_number, image.acquisition_number, image.stored_file)
            )
    out.sort(key=lambda f: (f.instance_number is not None, f.instance_number or 0, f.sop_instance_uid))
    return out
