"""Who may download what. Reading metadata follows Collection.visible_to; downloading a
limited-access collection also needs a login and an accepted data use agreement."""
import hashlib

from django.db import transaction

from tcia.core import roles
from tcia.core.audit import log

from .models import Access, Collection, DataUseAcceptance


def agreement_digest(collection: Collection) -> str:
    return hashlib.sha256(collection.data_use_agreement.encode("utf-8")).hexdigest()


def has_accepted(user, collection: Collection) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return DataUseAcceptance.objects.filter(
        user=user, collection=collection, agreement_sha256=agreement_digest(collection)
    ).exists()


def can_download(user, collection: Collection) -> bool:
    if roles.is_curator(user):
        return True
    if not collection.is_public:
        return False
    if collection.access == Access.PUBLIC:
        return True
    return has_accepted(user, collection)


@transaction.atomic
def accept_agreement(*, user, collection: Collection) -> DataUseAcceptance:
    acceptance, created = DataUseAcceptance.objects.get_or_create(
        user=user, collection=collection, agreement_sha256=agreement_digest(collection)
    )
    if created:
        log("access.accept_agreement", actor=user, obj=collection, agreement_sha256=acceptance.agreement_sha256)
    return acceptance
