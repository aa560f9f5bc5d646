"""NBIA's getCollectionOrSeriesForDOI (tcia_utils' getDoiMetadata) answers for our DOIs: what a
concept or version DOI names, never a draft or withdrawn one, and tcia_utils reads it unmodified."""
import json

import pytest

from collections_app.models import Series, VersionSeries
from doi import selectors
from doi.models import DOI
from doi.services import withdraw_version

URL = "/nbia-api/services/v4/getCollectionOrSeriesForDOI"


def lookup(client, doi, what=""):
    response = client.post(URL, {"DOI": doi, "CollectionOrSeries": what})
    assert response.status_code == 200, response.content
    return json.loads(response.content) if response.content else []


@pytest.mark.django_db
def test_version_doi_names_its_series_and_its_collection(client, published, chest):
    vdoi = selectors.version_doi(published).doi
    expected = sorted(VersionSeries.objects.filter(version=published).values_list("series_instance_uid", flat=True))
    assert len(expected) == 4
    rows = lookup(client, vdoi, "series")
    assert [r["seriesInstanceUID"] for r in rows] == expected
    assert {(r["collection"], r["thirdPartyAnanlysis"], r["authorized"]) for r in rows} == {(chest.short_name, "NO", 1)}
    assert lookup(client, vdoi) == [{"collection": chest.short_name, "thirdPartyAnanlysis": "NO", "authorized": 1}]
    # as people paste it: resolver prefix, upper case
    assert lookup(client, "https://doi.org/" + vdoi.upper(), "series") == rows


@pytest.mark.django_db
def test_concept_doi_names_the_released_series(client, published, chest):
    concept = selectors.concept_doi(chest).doi
    Series.objects.filter(pk=Series.objects.filter(collection=chest).first().pk).update(third_party_analysis=True)
    rows = lookup(client, concept, "series")
    released = set(Series.objects.filter(collection=chest, date_released__isnull=False).values_list("series_instance_uid", flat=True))
    assert {r["seriesInstanceUID"] for r in rows} == released
    assert sorted(r["thirdPartyAnanlysis"] for r in rows) == ["NO", "NO", "NO", "YES"]
    assert lookup(client, concept)[0]["thirdPartyAnanlysis"] == "YES"


@pytest.mark.django_db
def test_unknown_draft_and_withdrawn_dois_name_nothing(client, published, chest, curator):
    assert client.post(URL, {"DOI": "10.80000/no-such-doi"}).content == b""
    vdoi = selectors.version_doi(published)
    DOI.objects.filter(pk=vdoi.pk).update(state=DOI.State.DRAFT)
    assert lookup(client, vdoi.doi, "series") == []
    DOI.objects.filter(pk=vdoi.pk).update(state=DOI.State.FINDABLE)
    withdraw_version(published, actor=curator, reason="consent withdrawn")
    assert lookup(client, vdoi.doi, "series") == []


@pytest.mark.django_db
def test_missing_doi_is_a_clear_400(client, published):
    response = client.post(URL, {})
    assert response.status_code == 400 and b"DOI" in response.content
    assert client.post(URL, {"DOI": "x", "Other": "1"}).status_code == 400  # unknown parameter named


@pytest.mark.django_db(transaction=True)
def test_tcia_utils_get_doi_metadata(live_server, monkeypatch, chest, curator):
    from tcia_utils import nbia

    from collections_app.services.publish import publish

    version = publish(chest, actor=curator, notes="First release")
    base = live_server.url + "/nbia-api/services/"
    monkeypatch.setattr(nbia, "setApiUrl", lambda endpoint, api_url="": base + "v4/")
    series = nbia.getDoiMetadata(selectors.version_doi(version).doi, output="series")
    assert sorted(s["seriesInstanceUID"] for s in series) == sorted(
        VersionSeries.objects.filter(version=version).values_list("series_instance_uid", flat=True))
    assert nbia.getDoiMetadata(selectors.concept_doi(chest).doi)[0]["collection"] == chest.short_name
