"""Which frozen versions a DICOMweb root serves.

`/dicomweb/` serves, for each collection the caller may read, its latest version that is not
withdrawn; `/dicomweb/versions/<id>/` serves exactly that version (what a citation names).
Everything below a root reads the versions' frozen manifests (VersionSeries, VersionEntry),
never the live index, so a later correction never changes what a version shows.
"""
from dataclasses import dataclass

from django.http import Http404

from collections_app.models import CollectionVersion

from .access import readable_collection_ids, readable_latest_versions


class Gone(Exception):
    """The pinned version was withdrawn."""

    def __init__(self, version):
        super().__init__(f"version {version.number} of {version.collection.short_name} was withdrawn")
        self.version = version


@dataclass(frozen=True)
class Scope:
    version_ids: tuple[int, ...]
    root: str  # URL path of the root, e.g. "/dicomweb" or "/dicomweb/versions/7"
    pinned: bool
    public_only: bool  # every collection served is public: responses may be cached by anyone


def build(user, version_id: int | None, root: str) -> Scope:
    if version_id is not None:
        readable = readable_collection_ids(user)
        version = CollectionVersion.objects.select_related("collection").filter(pk=version_id).first()
        if version is None or version.collection_id not in readable:
            raise Http404("No such version.")
        if version.withdrawn_at is not None:
            raise Gone(version)
        return Scope((version.pk,), root, True, version.collection.access == "public")
    latest = readable_latest_versions(user)
    ids = tuple(sorted(v for v, _access in latest.values()))
    return Scope(ids, root, False, all(access == "public" for _v, access in latest.values()))
