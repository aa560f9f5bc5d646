"""The REST API under /api/: visibility, filters, cursor pages, bearer tokens, OpenAPI schema."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collections_app.access import accept_agreement
from collections_app.models import Image, Series
from tests.conftest import make_user
from tests.nbia.conftest import build_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def archive(db):
    return build_archive()


def results(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_root_lists_every_resource(client, archive):
    root = client.get("/api/").json()
    assert {"collections", "versions", "subjects", "studies", "series", "images", "dois"} <= set(root)


def test_public_sees_published_collections_only(client, archive):
    names = [c["short_name"] for c in results(client, "/api/collections/")]
    assert sorted(names) == ["API-Brain-MR", "API-Chest-CT"]
    detail = client.get("/api/collections/api-chest-ct/").json()
    assert detail["license_short"] == "CC BY 3.0" and detail["modalities"] == ["CT"]
    assert client.get("/api/collections/api-draft/").status_code == 404


def test_curator_sees_drafts(client, archive, curator):
    client.force_login(curator)
    names = [c["short_name"] for c in results(client, "/api/collections/")]
    assert "API-Draft" in names


def test_unreleased_series_are_hidden_from_the_public(client, archive):
    public, _ = archive
    _, limited = archive
    Series.objects.filter(collection=public).update(date_released=None)
    reader = make_user("reader-unreleased")
    accept_agreement(user=reader, collection=limited)
    client.force_login(reader)
    assert [s["collection"] for s in results(client, "/api/series/")] == ["API-Brain-MR"]
    assert all(s["collection"] == "API-Brain-MR" for s in results(client, "/api/subjects/"))


def test_filters(client, archive):
    series = results(client, "/api/series/", collection="api-chest-ct", modality="ct")
    assert len(series) == 4 and all(s["modality"] == "CT" for s in series)
    assert results(client, "/api/series/", modality="PT") == []
    uid = series[0]["series_instance_uid"]
    images = results(client, "/api/images/", series_instance_uid=uid)
    assert len(images) == 3 and all(i["series_instance_uid"] == uid for i in images)
    assert images[0]["download_url"].startswith("http://testserver/nbia-api/services/v4/getSingleImage?")
    assert len(results(client, "/api/subjects/", collection="API-Chest-CT")) == 2
    assert len(results(client, "/api/studies/", patient_id="apict-0001")) == 1
    assert results(client, "/api/series/", released_after="2030-01-01T00:00:00Z") == []


def test_cursor_pagination_walks_everything_once(client, archive):
    seen, url = [], "/api/images/?page_size=4"
    while url:
        page = client.get(url).json()
        seen += [i["id"] for i in page["results"]]
        url = page["next"]
    # The public walks the released images of public-access collections (limited ones need an agreement).
    assert sorted(seen) == sorted(Image.objects.filter(series__date_released__isnull=False, series__collection__access="public",
                                                       series__collection__status="published").values_list("id", flat=True))
    assert len(seen) == len(set(seen)) == 12


def test_series_list_query_count_is_constant(client, archive):
    with CaptureQueriesContext(connection) as small:
        client.get("/api/series/?page_size=1")
    with CaptureQueriesContext(connection) as big:
        client.get("/api/series/?page_size=100")
    assert len(small) == len(big)


def test_bearer_token_authenticates(client, archive):
    make_user("reader")
    token = client.post("/nbia-api/oauth/token", {"grant_type": "password", "username": "reader",
                                                   "password": "pw-reader"}).json()["access_token"]
    assert client.get("/api/series/", HTTP_AUTHORIZATION="Bearer " + token).status_code == 200
    bad = client.get("/api/series/", HTTP_AUTHORIZATION="Bearer wrong")
    assert bad.status_code == 401 and bad["WWW-Authenticate"].startswith("Bearer")


def test_throttling(client, archive, settings):
    from django.core.cache import cache

    cache.clear()
    settings.TCIA_API_ANON_RATE = "3/minute"
    codes = [client.get("/api/collections/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    cache.clear()


def test_docs_page_is_served_locally(client):
    page = client.get("/api/docs/").content.decode()
    assert "/api/docs/assets/swagger-ui-bundle.js" in page and "/api/schema/" in page
    assert "cdn" not in page.lower() and "https://" not in page
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and asset["Content-Type"] in ("text/javascript", "application/javascript")
    assert client.get("/api/docs/assets/../settings.py").status_code == 404


def test_openapi_schema_validates(client):
    from drf_spectacular.validation import validate_schema

    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = set(schema["paths"])
    for resource in ("collections", "versions", "subjects", "studies", "series", "images", "dois"):
        assert f"/api/{resource}/" in paths
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    params = {p["name"] for p in schema["paths"]["/api/series/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "collection", "modality", "released_after"} <= params


def test_limited_collection_rows_need_the_agreement(client, archive):
    _, limited = archive
    user = make_user("reader2")
    client.force_login(user)
    # The collection is in the catalogue; its subjects, series and images are not, until the agreement.
    assert [c["short_name"] for c in results(client, "/api/collections/", access="limited")] == [limited.short_name]
    for resource in ("subjects", "studies", "series"):
        assert results(client, f"/api/{resource}/", collection=limited.short_name) == [], resource
    series = Series.objects.filter(collection=limited).first()
    assert client.get(f"/api/series/{series.pk}/").status_code == 404
    assert client.get(f"/api/images/{series.images.first().pk}/").status_code == 404
    uid = series.series_instance_uid
    assert client.get(f"/nbia-api/services/v4/getImage?SeriesInstanceUID={uid}").status_code == 400
    accept_agreement(user=user, collection=limited)
    assert [s["series_instance_uid"] for s in results(client, "/api/series/", collection=limited.short_name)] == [uid]
    assert client.get(f"/api/images/{series.images.first().pk}/").status_code == 200
    assert client.get(f"/nbia-api/services/v4/getImage?SeriesInstanceUID={uid}").status_code == 200


@pytest.mark.parametrize("when, count", [
    ("0204-02-27T00:19:11.642+21:29", 0),   # an offset PostgreSQL refuses (it allows ±15:59): compared in UTC
    ("0001-01-01T00:00:00+23:00", 0),       # before year 1 in UTC: the calendar's start
    ("9999-12-31T23:59:00-23:00", None),    # after year 9999 in UTC: the calendar's end, so every series
    ("2030-01-01T09:30:00+09:30", None),
])
def test_released_before_takes_any_iso_offset(client, archive, when, count):
    every = len(results(client, "/api/series/"))
    found = results(client, "/api/series/", released_before=when)
    assert len(found) == (every if count is None else count)
