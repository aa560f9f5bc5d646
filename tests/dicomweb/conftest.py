"""Published demo collections (real DICOM from pydicom's samples) for the DICOMweb tests:
a public CT collection (2 subjects x 1 study x 2 series x 3 images), a limited MR collection,
and a collection taken back to draft (it has a version) that must never show."""
import pytest

from collections_app.models import Access, Collection, License, Status
from demo.services import load_demo_collection
from collections_app.services.publish import publish
from tests.nbia.conftest import LIMITED_SPEC, PUBLIC_SPEC


def build_published():
    public = load_demo_collection(PUBLIC_SPEC, subjects=2, studies=1, series=2, images=3)
    limited = load_demo_collection(LIMITED_SPEC, subjects=1, studies=1, series=1, images=2)
    v_public = publish(public, actor=None, notes="test release")
    v_limited = publish(limited, actor=None, notes="test release")
    Collection.objects.filter(pk=limited.pk).update(
        access=Access.LIMITED, license=License.TCIA_RESTRICTED, data_use_agreement="Do not re-identify."
    )
    draft = load_demo_collection(
        {**PUBLIC_SPEC, "slug": "dw-draft", "title": "DW Draft", "short_name": "DW-Draft", "subject_prefix": "DWDR"},
        subjects=1, studies=1, series=1, images=1,
    )
    publish(draft, actor=None, notes="released once, then taken back into curation")
    Collection.objects.filter(pk=draft.pk).update(status=Status.DRAFT)
    return v_public, v_limited


@pytest.fixture(autouse=True)
def pydicom_validation_restored():
    """dicomweb-client's DICOMfileClient switches pydicom's validation to RAISE around each call
    and does not switch it back if the call raises; keep that from leaking into other tests."""
    from pydicom import config

    reading, writing = config.settings.reading_validation_mode, config.settings.writing_validation_mode
    yield
    config.settings.reading_validation_mode, config.settings.writing_validation_mode = reading, writing


@pytest.fixture
def published(db):
    return build_published()
