"""`{% load dicomweb_tags %}`: "View images" links into the OHIF viewer. Each tag gives "" when
the viewer is not installed or the user may not read the collection's released data (the rule
DICOMweb serves by, collections_app.access.can_read_released), so pages show no dead link."""
from django import template

from collections_app.access import can_read_released
from collections_app.models import CollectionVersion, VersionSeries
from dicomweb import viewer

register = template.Library()


def _first_study(version) -> str | None:
    return (VersionSeries.objects.filter(version=version).order_by("study_instance_uid")
            .values_list("study_instance_uid", flat=True).first())


@register.simple_tag
def viewer_series_url(user, collection, study_uid, series_uid=""):
    if not viewer.installed() or not can_read_released(user, collection):
        return ""
    return viewer.viewer_url(study_uid, series_uid or None)


@register.simple_tag
def viewer_version_url(user, version, pinned=True):
    """The viewer on the first study of `version` (pinned to it unless pinned=False)."""
    if version is None or version.withdrawn_at or not viewer.installed():
        return ""
    if not can_read_released(user, version.collection):
        return ""
    study = _first_study(version)
    return viewer.viewer_url(study, version_id=version.pk if pinned else None) if study else ""


@register.simple_tag
def viewer_collection_url(user, collection):
    """The viewer on the first study of the collection's latest version."""
    latest = (CollectionVersion.objects.filter(collection=collection, withdrawn_at__isnull=True)
              .order_by("-number").first())
    return viewer_version_url(user, latest, pinned=False)
