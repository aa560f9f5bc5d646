import hashlib

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from collections_app.models import Collection, CollectionVersion, StoredFile, WikiRevision
from collections_app.services import storage, wiki
from tcia.core.audit import log
from tcia.core.models import AppendOnlyError, AuditEvent

from .factories import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("field,value", [("status", "deleted"), ("access", "secret"), ("license", "GPL")])
def test_choice_fields_are_enforced_by_the_database(field, value):
    collection = CollectionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Collection.objects.filter(pk=collection.pk).update(**{field: value})


def test_slug_and_short_name_are_unique():
    CollectionFactory(slug="same", short_name="Same")
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionFactory(slug="same")
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionFactory(short_name="Same")


def test_restricted_license_requires_limited_access():
    collection = CollectionFactory.build(license="TCIA-RESTRICTED", access="public")
    with pytest.raises(ValidationError) as err:
        collection.full_clean()
    assert "access" in err.value.message_dict


def test_bad_slug_rejected_by_validation():
    collection = CollectionFactory.build(slug="Bad Slug!")
    with pytest.raises(ValidationError) as err:
        collection.full_clean()
    assert "slug" in err.value.message_dict


def test_version_numbers_unique_and_positive():
    collection = CollectionFactory()
    CollectionVersion.objects.create(collection=collection, number=1, release_date="2020-01-01")
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionVersion.objects.create(collection=collection, number=1, release_date="2020-02-01")
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionVersion.objects.create(collection=collection, number=0, release_date="2020-02-01")


def test_stored_file_bytes_match_sha256_and_are_deduplicated():
    data = b"DICM" + bytes(range(256)) * 10
    first = storage.store_bytes(data)
    again = storage.store_bytes(data)
    assert first.pk == again.pk
    assert StoredFile.objects.count() == 1
    with first.open() as fh:
        stored = fh.read()
    assert stored == data
    assert hashlib.sha256(stored).hexdigest() == first.sha256
    assert first.size == len(data)
    assert storage.verify(first)


def test_stored_file_cannot_be_rewritten():
    stored = storage.store_bytes(b"original bytes")
    stored.size = 1
    with pytest.raises(ValidationError):
        stored.save()
    with pytest.raises(ValidationError):
        StoredFile.objects.filter(pk=stored.pk).update(size=2)


def test_fixity_check_notices_changed_bytes():
    stored = storage.store_bytes(b"bytes that will be tampered with")
    from tests.s3 import overwrite_stored

    overwrite_stored(stored.storage_name, b"tampered")  # on a folder or a bucket, behind the portal's back
    assert not storage.verify(stored)


def test_audit_events_are_append_only(curator):
    event = log("test.action", actor=curator, reason="because", value=1)
    event.reason = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(reason="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().reason == "because"


def test_wiki_revisions_are_append_only(curator):
    page = wiki.ensure_page(CollectionFactory())
    revision = wiki.save_revision(page=page, body="one", author=curator)
    revision.body = "rewritten"
    with pytest.raises(ValidationError):
        revision.save()
    assert WikiRevision.objects.get(pk=revision.pk).body == "one"
