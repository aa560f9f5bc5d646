"""Builders for intake tests: a draft collection with a submission, and sample files as bytes."""
import io

from pydicom import dcmread
from pydicom.data import get_testdata_file

from collections_app.models import Collection, Status
from curation.services.submissions import create_submission


def make_submission(slug="intake-test", prefix="ITEST", actor=None):
    collection = Collection.objects.create(
        slug=slug, title=slug.replace("-", " ").title(), short_name=slug, subject_prefix=prefix, status=Status.DRAFT
    )
    return create_submission(collection=collection, actor=actor)


def sample_bytes(name="CT_small.dcm", **changes) -> bytes:
    ds = dcmread(get_testdata_file(name, download=False))
    for keyword, value in changes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()
