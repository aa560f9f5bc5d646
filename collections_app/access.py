"""Who may read what: the one place that decides, for pages, downloads, the REST and NBIA APIs
and DICOMweb alike (docs/security.md).

Two levels:

- **Catalogue level** — that a collection exists, its title, description, wiki pages, license,
  figures (counts, modalities, sizes), versions and DOIs. Anyone may read these of a public
  collection (published or retired); curators and admins of every collection
  (`can_see_collection`, i.e. `Collection.objects.visible_to`).
- **Data level** — anything that names a subject, study, series or image: DICOM headers,
  subject IDs and UIDs in lists, digests, manifests, REST detail, NBIA rows, the files
  themselves. A public-access collection's data are open to all; a limited-access one's only
  to users who accepted its current data use agreement (a token acts as its user); curators
  and admins read everything (`can_read_data`, `data_collections`).

A collection that is not public (draft, in curation) is invisible at both levels to everyone
but curators and admins; what points at it (subsets, derived datasets, DOI lists) hides it too.

**Released data** — what the machine interfaces serve (DICOMweb and the OHIF viewer, NBIA's
series rows and downloads, the Data Retriever's servlet, shared carts): the data level limited
to public collections, for curators too, so nothing unreleased is reachable through them
(`can_read_released`, `released_data_collections`; series: `selectors.released_series`).
"""
import hashlib

from django.db import transaction
from django.db.models import Q, QuerySet

from tcia.core import roles
from tcia.core.audit import log

from .models import PUBLIC_STATUSES, Access, Collection, DataUseAcceptance


def agreement_digest(collection: Collection) -> str:
    return hashlib.sha256(collection.data_use_agreement.encode("utf-8")).hexdigest()


def has_accepted(user, collection: Collection) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return DataUseAcceptance.objects.filter(
        user=user, collection=collection, agreement_sha256=agreement_digest(collection)
    ).exists()


def accepted_collection_ids(user) -> set[int]:
    """Limited-access collections whose current agreement `user` accepted (one query)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    rows = DataUseAcceptance.objects.filter(user=user, collection__access=Access.LIMITED).values_list(
        "collection_id", "agreement_sha256", "collection__data_use_agreement"
    )
    return {
        cid for cid, sha, text in rows
        if sha == hashlib.sha256((text or "").encode("utf-8")).hexdigest()
    }


def can_see_collection(user, collection: Collection) -> bool:
    """Catalogue level: the collection's page, figures, versions and DOIs."""
    return roles.is_curator(user) or collection.is_public


def can_read_data(user, collection: Collection) -> bool:
    """Data level: subjects, series and images, their headers, digests, manifests and files."""
    if roles.is_curator(user):
        return True
    if not collection.is_public:
        return False
    if collection.access == Access.PUBLIC:
        return True
    return has_accepted(user, collection)


# Downloading is reading the data.
can_download = can_read_data


def data_collections(user) -> QuerySet:
    """The collections whose data `user` may read, as a queryset to filter by
    (`Series.objects.filter(collection__in=data_collections(user))`)."""
    visible = Collection.objects.visible_to(user)
    if roles.is_curator(user):
        return visible
    return visible.filter(Q(access=Access.PUBLIC) | Q(pk__in=sorted(accepted_collection_ids(user))))


def can_read_released(user, collection: Collection) -> bool:
    """Released data: the data level of a public collection (never a draft or one in curation,
    not even for curators)."""
    return collection.is_public and can_read_data(user, collection)


def released_data_collections(user) -> QuerySet:
    """The public collections whose data `user` may read: `data_collections` without what is
    not released."""
    return data_collections(user).filter(status__in=PUBLIC_STATUSES)


@transaction.atomic
def accept_agreement(*, user, collection: Collection) -> DataUseAcceptance:
    acceptance, created = DataUseAcceptance.objects.get_or_create(
        user=user, collection=collection, agreement_sha256=agreement_digest(collection)
    )
    if created:
        log("access.accept_agreement", actor=user, obj=collection, agreement_sha256=acceptance.agreement_sha256)
    return acceptance
