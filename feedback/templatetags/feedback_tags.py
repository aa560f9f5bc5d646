"""Errata and the "Report a problem" link on the collection page and the landing pages, outside
their cached fragments (publishing an erratum also moves the collection's stamp, so ETags move).
Each tag costs one small query and never loads the page's lazy objects."""
from django import template
from django.db.models import Q

from ..models import Erratum

register = template.Library()


@register.inclusion_tag("feedback/_errata.html")
def errata(collection_pk):
    """Errata of a collection (by pk): all of them on its page, whatever version they concern."""
    shown = Erratum.objects.shown().filter(collection_id=collection_pk).select_related("version")
    return {"errata": list(shown[:20])}


@register.inclusion_tag("feedback/_errata.html")
def errata_for_doi(doi):
    """A collection DOI: every erratum of the collection; a version DOI: those of that version
    and those about the whole collection."""
    if getattr(doi, "collection_id", None):
        shown = Erratum.objects.shown().filter(collection_id=doi.collection_id)
    elif getattr(doi, "version_id", None):
        shown = Erratum.objects.shown().filter(collection__versions=doi.version_id).filter(
            Q(version__isnull=True) | Q(version_id=doi.version_id))
    else:
        return {"errata": []}
    return {"errata": list(shown.select_related("version")[:20])}


@register.inclusion_tag("feedback/_report_link.html")
def report_link(slug, page="collection"):
    return {"slug": slug, "page": page, "version_pk": None}


@register.inclusion_tag("feedback/_report_link.html")
def report_link_for_doi(doi):
    from collections_app.models import Collection

    if not (getattr(doi, "collection_id", None) or getattr(doi, "version_id", None)):
        return {"slug": None}
    cond = Q(pk=doi.collection_id) if doi.collection_id else Q(versions=doi.version_id)
    slug = Collection.objects.filter(cond).values_list("slug", flat=True).first()
    return {"slug": slug, "page": "landing", "version_pk": doi.version_id}
