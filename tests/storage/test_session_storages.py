"""Which storages the run uses (a module of its own: test_object_storage.py moves its module to a bucket)."""
from django.core.files.storage import storages

from tests import s3


def test_the_session_storages_are_where_the_run_said():
    """With TCIA_TEST_S3_ENDPOINT (.ci/run's object-storage step) every test of the run uses the
    bucket; without it the normal suite stays on local folders."""
    on_s3 = [hasattr(storages[kind], "bucket_name") for kind in s3.KINDS]
    assert on_s3 == [bool(s3.configured_endpoint())] * 3
