"""Released demo collections (real DICOM from pydicom's samples) for the NBIA API tests."""
import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from collections_app.models import Access, Collection, License, Series, Status
from demo.services import load_demo_collection
from tests.conftest import make_user

PUBLIC_SPEC = {
    "slug": "api-chest-ct", "title": "API Chest CT", "short_name": "API-Chest-CT", "subject_prefix": "APICT",
    "cancer_type": "Lung Cancer", "sites": ["Chest"], "modality": "CT", "sample": "CT_small.dcm", "body_part": "CHEST",
    "summary": "Public test collection.",
}
LIMITED_SPEC = {
    "slug": "api-brain-mr", "title": "API Brain MR", "short_name": "API-Brain-MR", "subject_prefix": "APIMR",
    "cancer_type": "Glioblastoma", "sites": ["Brain"], "modality": "MR", "sample": "MR_small.dcm", "body_part": "BRAIN",
    "summary": "Limited test collection.",
}
RELEASED = dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc)


def build_archive():
    public = load_demo_collection(PUBLIC_SPEC, subjects=2, studies=1, series=2, images=3)
    limited = load_demo_collection(LIMITED_SPEC, subjects=1, studies=1, series=1, images=2)
    Collection.objects.filter(pk=limited.pk).update(
        access=Access.LIMITED, license=License.TCIA_RESTRICTED, data_use_agreement="Do not re-identify."
    )
    # Released as publishing would release them: the public figures are the released ones.
    Series.objects.filter(collection__in=[public, limited]).update(
        date_released=RELEASED, released_image_count=F("image_count"), released_bytes=F("total_bytes"))
    # A draft collection's series never shows.
    draft = load_demo_collection(
        {**PUBLIC_SPEC, "slug": "api-draft", "title": "API Draft", "short_name": "API-Draft", "subject_prefix": "APIDR"},
        subjects=1, studies=1, series=1, images=1,
    )
    Collection.objects.filter(pk=draft.pk).update(status=Status.DRAFT)
    Series.objects.filter(collection=draft).update(date_released=RELEASED)
    return Collection.objects.get(pk=public.pk), Collection.objects.get(pk=limited.pk)


@pytest.fixture
def archive(db):
    return build_archive()


@pytest.fixture
def reader(db):
    return make_user("reader")


V4 = "/nbia-api/services/v4/"
V1 = "/nbia-api/services/v1/"
V2 = "/nbia-api/services/v2/"


def now():
    return timezone.now()


@pytest.fixture
def tcia(live_server, monkeypatch):
    """The real tcia_utils, pointed at the live test server: its base URL can only be changed by
    replacing `nbia.setApiUrl` (reference §5.1)."""
    from tcia_utils import nbia

    base = live_server.url + "/nbia-api/services/"
    monkeypatch.setattr(
        nbia, "setApiUrl", lambda endpoint, api_url="": base + ("v1/" if endpoint == "getContentsByName" else "v4/")
    )
    return nbia
