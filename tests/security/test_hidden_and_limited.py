"""A collection back in curation vanishes everywhere (DOI lists, subsets, derived datasets,
manifests), its DOIs answer as tombstones; a limited collection's data need the agreement."""
import pytest
from django.test import Client

from tests.security.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return build_world()


def _hidden_dois(world):
    return {world.objects["dois"]["concept:demo-hidden-ct"], world.objects["dois"]["version:demo-hidden-ct"],
            world.objects["hidden_subset_doi"]}


def test_doi_lists_leave_out_hidden_collections(client, world):
    listed = {d["doi"] for d in client.get("/doi/").json()["dois"]}
    assert world.objects["dois"]["concept:demo-chest-ct"] in listed and world.objects["derived_doi"] in listed
    assert not listed & _hidden_dois(world)
    rest = {d["doi"] for d in client.get("/api/dois/", {"page_size": 100}).json()["results"]}
    assert world.objects["public_subset_doi"] in rest and not rest & _hidden_dois(world)
    staff = Client()
    staff.force_login(world.users["curator"])
    assert _hidden_dois(world) <= {d["doi"] for d in staff.get("/doi/").json()["dois"]}


def test_hidden_dois_answer_as_tombstones_without_data(client, world):
    for doi in _hidden_dois(world):
        page = client.get(f"/doi/{doi}")
        assert page.status_code == 410, doi
        text = page.content.decode()
        assert "Not available" in text and f"https://doi.org/{doi}" in text
        assert not [m for m in world.hidden.markers if m in text]
        assert "/downloads/" not in text
        assert client.get(f"/doi/{doi}", HTTP_ACCEPT="application/vnd.datacite.datacite+json").status_code == 410


def test_hidden_subset_downloads_and_nbia_name_nothing(client, world):
    pk = world.objects["hidden_subset"]
    assert client.get(f"/downloads/subsets/{pk}.tcia").status_code == 404
    assert client.get(f"/downloads/subsets/{pk}.zip").status_code == 404
    rows = client.get("/nbia-api/services/v4/getCollectionOrSeriesForDOI",
                      {"DOI": world.objects["hidden_subset_doi"], "CollectionOrSeries": "series"})
    assert rows.content == b""


def test_derived_dataset_page_lists_only_visible_sources(client, world):
    page = client.get(f"/doi/{world.objects['derived_doi']}").content.decode()
    assert world.public.collection.title in page and world.hidden.collection.title not in page


def test_public_collection_page_does_not_link_a_subset_of_a_hidden_collection(client, world):
    from doi.selectors import dois_pointing_to

    pointing = dois_pointing_to(world.public.collection)
    assert {d.doi for d in pointing["subsets"]} == {world.objects["public_subset_doi"]}


def test_limited_digest_manifest_and_headers_need_the_agreement(client, world):
    version, series = world.limited.version, world.limited.series
    urls = [f"/downloads/versions/{version.pk}/digest.csv", f"/downloads/versions/{version.pk}.tcia"]
    for url in urls:
        refused = client.get(url)
        assert refused.status_code == 403 and "agreement" in refused.content.decode(), url
    tags = client.get("/nbia-api/services/v4/getDicomTags", {"SeriesUID": series.series_instance_uid})
    assert tags.status_code == 200 and tags.content == b""
    agreed = Client()
    agreed.force_login(world.users["agreed"])
    for url in urls:
        response = agreed.get(url)
        assert response.status_code == 200
        assert series.series_instance_uid in b"".join(response.streaming_content if response.streaming
                                                      else [response.content]).decode()
    tags = agreed.get("/nbia-api/services/v4/getDicomTags", {"SeriesUID": series.series_instance_uid}).json()
    assert any(row["name"] == "Series Instance UID" and row["data"] == series.series_instance_uid for row in tags)


def test_agreement_bound_to_its_text(client, world):
    """Changing the agreement's text asks everyone to accept it again."""
    from collections_app.models import Collection

    agreed = Client()
    agreed.force_login(world.users["agreed"])
    url = f"/downloads/versions/{world.limited.version.pk}/digest.csv"
    assert agreed.get(url).status_code == 200
    Collection.objects.filter(pk=world.limited.collection.pk).update(data_use_agreement="New terms.")
    assert agreed.get(url).status_code == 403
