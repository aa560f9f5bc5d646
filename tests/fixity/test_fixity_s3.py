"""The fixity audit with the storages in an S3 bucket (moto's server, tests/s3.py; the whole
session's bucket under scripts/test_s3.sh): a damaged object is found, mailed and blocked, the
others verify and download, and a restore writes the object back."""
import pytest
from django.core import mail
from django.core.files.storage import storages
from django.urls import reverse

from collections_app.models import VersionEntry
from fixity import services
from fixity.models import FixityFailure, FixityRecord
from tests import s3

pytestmark = pytest.mark.django_db


@pytest.fixture
def bucket(_object_storage_session):
    yield from s3.module_bucket(_object_storage_session)


def test_a_damaged_object_in_the_bucket_is_found_blocked_and_restored(bucket, published, admins, client, curator):
    assert objectstore_is_bucket()
    entries = list(VersionEntry.objects.filter(version=published).select_related("stored_file").order_by("pk"))
    victim, other = entries[0], entries[-1]
    name = victim.stored_file.storage_name
    original = s3.read_stored(name)
    s3.overwrite_stored(name, original + b"bit rot")
    try:
        run = services.run_audit(max_seconds=0).run
        assert run.failures == 1 and run.files_checked == FixityRecord.objects.count()
        assert run.bytes_checked >= sum(e.stored_file.size for e in entries)
        failure = FixityFailure.objects.get()
        assert failure.kind == "size" and failure.record.stored_file_id == victim.stored_file_id
        assert len(mail.outbox) == 1 and victim.stored_file.sha256 in mail.outbox[0].body
        blocked = client.get(reverse("data_version_file", args=[published.pk, victim.sop_instance_uid]))
        assert blocked.status_code == 503 and b"fixity" in blocked.content
        assert client.get(reverse("data_version_zip", args=[published.pk])).status_code == 503
        fine = client.get(reverse("data_version_file", args=[published.pk, other.sop_instance_uid]))
        assert fine.status_code == 200 and b"".join(fine.streaming_content) == s3.read_stored(other.stored_file.storage_name)
        outcome = services.restore(failure.record, original, actor=curator, note="from the replica bucket")
        assert outcome.ok and s3.read_stored(name) == original
        assert not FixityRecord.objects.get(pk=failure.record_id).blocked
        again = client.get(reverse("data_version_file", args=[published.pk, victim.sop_instance_uid]))
        assert again.status_code == 200 and b"".join(again.streaming_content) == original
    finally:
        s3.overwrite_stored(name, original)


def test_a_missing_object_is_a_missing_failure(bucket, published, admins):
    entry = VersionEntry.objects.filter(version=published).select_related("stored_file").first()
    original = s3.read_stored(entry.stored_file.storage_name)
    s3.remove_stored(entry.stored_file.storage_name)
    try:
        services.run_audit(max_seconds=0)
        assert FixityFailure.objects.get().kind == "missing"
    finally:
        s3.overwrite_stored(entry.stored_file.storage_name, original)


def objectstore_is_bucket() -> bool:
    return hasattr(storages["archive"], "bucket_name")
