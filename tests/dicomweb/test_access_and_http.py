"""Who sees what through DICOMweb, and the HTTP around it: released data only, limited
collections for accepted agreements (session or bearer token), pinned versions and withdrawn
ones, CORS (on errors too), ETag / 304, caching headers and the API's throttle."""
import io

import pydicom
import pytest
from django.core.cache import cache
from django.test import override_settings

from collections_app.access import accept_agreement
from collections_app.models import Collection, Image, VersionSeries
from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes
from nbia import tokens
from tests.conftest import make_user


def study_uids(response):
    return [] if response.status_code == 204 else [r["0020000D"]["Value"][0] for r in response.json()]


def snap(version):
    return VersionSeries.objects.filter(version=version).order_by("id").first()


@pytest.mark.django_db
def test_limited_collection_needs_an_accepted_agreement(client, published):
    v_public, v_limited = published
    limited = snap(v_limited)
    public_studies = {s.study_instance_uid for s in VersionSeries.objects.filter(version=v_public)}
    series_url = f"/dicomweb/studies/{limited.study_instance_uid}/series/{limited.series_instance_uid}"

    # The public sees the public collection only; the limited one's URLs are 404, its studies absent.
    assert set(study_uids(client.get("/dicomweb/studies"))) == public_studies
    for url in (series_url, series_url + "/metadata", f"/dicomweb/versions/{v_limited.pk}/studies"):
        assert client.get(url).status_code == 404, url
    assert client.get(series_url + "/instances").status_code == 204  # a search that matches nothing

    reader = make_user("dw-reader")
    client.force_login(reader)
    assert client.get(series_url + "/metadata").status_code == 404  # logged in is not enough
    accept_agreement(user=reader, collection=Collection.objects.get(pk=v_limited.collection_id))
    assert limited.study_instance_uid in study_uids(client.get("/dicomweb/studies"))
    assert client.get(series_url + "/metadata").status_code == 200
    assert client.get(series_url + "/metadata")["Cache-Control"].startswith("private")

    # The same user's bearer token works without a session; a bad token is a 401.
    client.logout()
    issued = tokens.password_grant(username="dw-reader", password="pw-dw-reader")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.access_token}"}
    assert client.get(series_url + "/metadata", **auth).status_code == 200
    bad = client.get("/dicomweb/studies", HTTP_AUTHORIZATION="Bearer nope")
    assert bad.status_code == 401 and "WWW-Authenticate" in bad


@pytest.mark.django_db
def test_nothing_unreleased_even_for_curators(client, published, curator):
    from collections_app.models import Series

    draft_series = Series.objects.get(collection__slug="dw-draft")
    client.force_login(curator)
    assert draft_series.study.study_instance_uid not in study_uids(client.get("/dicomweb/studies"))
    url = f"/dicomweb/studies/{draft_series.study.study_instance_uid}/series/{draft_series.series_instance_uid}"
    assert client.get(url).status_code == 404


def _correct_one_file(version):
    """A correction after publication: one image gets new bytes (its pixels change)."""
    s = snap(version)
    image = Image.objects.filter(series_id=s.series_id).order_by("instance_number").first()
    with image.stored_file.open() as fh:
        ds = pydicom.dcmread(fh)
    arr = ds.pixel_array.copy()
    arr[0, 0] = arr[0, 0] + 1
    ds.PixelData = arr.tobytes()
    out = io.BytesIO()
    ds.save_as(out)
    new = store_bytes(out.getvalue())
    Image.objects.filter(pk=image.pk).update(stored_file=new, file_size=new.size)
    return s, image.sop_instance_uid, new


@pytest.mark.django_db
def test_latest_root_follows_new_versions_and_pinned_roots_keep_their_bytes(client, published):
    v1, _ = published
    s, sop, new = _correct_one_file(v1)
    old_sha = v1.entries.get(sop_instance_uid=sop).stored_file.sha256
    v2 = publish(v1.collection, actor=None, notes="corrected one image")
    path = f"/studies/{s.study_instance_uid}/series/{s.series_instance_uid}/instances/{sop}"

    def body(url):
        r = client.get(url, HTTP_ACCEPT="application/dicom")
        assert r.status_code == 200, url
        return b"".join(r.streaming_content)

    import hashlib

    assert hashlib.sha256(body("/dicomweb" + path)).hexdigest() == new.sha256
    assert hashlib.sha256(body(f"/dicomweb/versions/{v2.pk}" + path)).hexdigest() == new.sha256
    assert hashlib.sha256(body(f"/dicomweb/versions/{v1.pk}" + path)).hexdigest() == old_sha
    pinned = client.get(f"/dicomweb/versions/{v1.pk}" + path + "/metadata")
    assert "immutable" in pinned["Cache-Control"]

    # A withdrawn version's root is gone; the latest root then serves the newest other version.
    from doi.services import withdraw_version

    withdraw_version(v2, actor=None, reason="test")
    assert client.get(f"/dicomweb/versions/{v2.pk}" + path).status_code == 410
    assert hashlib.sha256(body("/dicomweb" + path)).hexdigest() == old_sha


@pytest.mark.django_db
@override_settings(TCIA_DICOMWEB_CORS_ORIGINS=["https://viewer.example.org"])
def test_cors_on_success_errors_and_preflight(client, published):
    ok = client.get("/dicomweb/studies", HTTP_ORIGIN="https://viewer.example.org")
    assert ok["Access-Control-Allow-Origin"] == "https://viewer.example.org"
    missing = client.get("/dicomweb/studies/1.2.3/series/4.5.6/metadata", HTTP_ORIGIN="https://viewer.example.org")
    assert missing.status_code == 404 and missing["Access-Control-Allow-Origin"] == "https://viewer.example.org"
    other = client.get("/dicomweb/studies", HTTP_ORIGIN="https://elsewhere.example.com")
    assert "Access-Control-Allow-Origin" not in other
    pre = client.options("/dicomweb/studies", HTTP_ORIGIN="https://viewer.example.org",
                         HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    assert pre.status_code == 204 and "Authorization" in pre["Access-Control-Allow-Headers"]
    assert client.post("/dicomweb/studies").status_code == 405


@pytest.mark.django_db
def test_conditional_get(client, published):
    v1, _ = published
    s = snap(v1)
    for url in ("/dicomweb/studies", f"/dicomweb/studies/{s.study_instance_uid}/series/{s.series_instance_uid}/metadata",
                f"/dicomweb/studies/{s.study_instance_uid}/series/{s.series_instance_uid}"):
        first = client.get(url)
        assert first.status_code == 200 and first["ETag"] and first["Cache-Control"].startswith("public")
        again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304 and again["ETag"] == first["ETag"]
        assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


@pytest.mark.django_db
@override_settings(TCIA_API_ANON_RATE="3/minute")
def test_throttled_like_the_api(client, published):
    cache.clear()
    # Counted by the real client address: a new X-Forwarded-For each time changes nothing.
    codes = [client.get("/dicomweb/studies", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code for i in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    limited = client.get("/dicomweb/studies")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    # One budget with the NBIA API (api.throttling).
    assert client.get("/nbia-api/services/v4/getCollectionValues").status_code == 429
    cache.clear()
    assert client.get("/nbia-api/services/v4/getCollectionValues").status_code == 200
    assert [client.get("/dicomweb/studies").status_code for _ in range(3)] == [200, 200, 429]
    cache.clear()
