"""The collection page, catalogue facets, landing page details, /doi/, site identity and
conditional GET (issue #15, points 1, 3, 5 and 6)."""
import re

import pytest
from django.test import override_settings
from django.urls import reverse

from collections_app.models import Collection
from collections_app.services.catalogue import load_catalogue
from collections_app.services.publish import publish
from demo.services import DEMO_COLLECTIONS, load_demo_collection
from doi import selectors, services as doi_services
from doi.models import CollectionCreator
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def chest(db):
    c = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=2, images=2)
    CollectionCreator.objects.create(collection=c, position=1, given_name="Jane", family_name="Doe", orcid="0000-0002-1825-0097")
    publish(c, actor=None, notes="First")
    return Collection.objects.get(pk=c.pk)


def test_collection_page_cites_lists_versions_and_leads_to_the_data(client, chest):
    v1 = chest.latest_version
    d = selectors.version_doi(v1)
    page = client.get(reverse("collection_detail", args=[chest.slug])).content.decode()
    for needle in (d.https, f'href="/doi/{d.doi}"', "Copy citation", 'id="style"', "Doe, J.",
                   f"/downloads/versions/{v1.pk}.zip", f"/downloads/versions/{v1.pk}.tcia",
                   f"/downloads/versions/{v1.pk}/digest.csv", f"/downloads/versions/{v1.pk}/digest-series.csv",
                   "/collections/demo-chest-ct/series/", "data-viewer", "https://creativecommons.org/licenses/by/3.0/",
                   "https://orcid.org/0000-0002-1825-0097"):
        assert needle in page, needle
    assert "Supporting data" not in page
    ieee = client.get(reverse("collection_detail", args=[chest.slug]), {"style": "ieee"}).content.decode()
    assert "J. Doe" in ieee
    # A second version: both listed, the citation moves to the new version's DOI.
    from tests.publication.test_released_facts import upload_more

    upload_more(chest, series_key="more", images=1)
    v2 = publish(chest, actor=None, notes="More")
    page = client.get(reverse("collection_detail", args=[chest.slug])).content.decode()
    assert selectors.version_doi(v2).https in page and f"/downloads/versions/{v1.pk}.zip" in page
    # Analysis results drawn from it appear as supporting data.
    from collections_app.services.storage import store_bytes

    derived = doi_services.create_derived(actor=None, slug="seg", title="Nodule segmentations", sources=[chest],
                                          files=[("seg.csv", store_bytes(b"a,b\n", content_type="text/csv"), "")],
                                          creators=[{"family": "Roe", "given": "R", "name_type": "Personal"}])
    doi_services.publish_derived(derived, actor=None)
    page = client.get(reverse("collection_detail", args=[chest.slug])).content.decode()
    assert "Supporting data" in page and "Nodule segmentations" in page
    assert f"/collections/{chest.slug}/" in client.get("/", {"supporting": "yes"}).content.decode()


def test_catalogue_facets_count_apply_by_link_and_keep_clean_urls(client):
    load_catalogue()
    page = client.get("/").content.decode()
    mr = re.search(r'data-facet="modality".*?data-value="MR"[^>]*>([^<]*)</a> <span class="count"[^>]*>(\d+)<', page, re.S)
    assert mr and int(mr.group(2)) == Collection.objects.filter(modalities__code="MR").count()
    link = re.search(r'<a href="(\?modality=MR)"', page).group(1)
    assert f'data-testid="result-count">{mr.group(2)}<' in client.get("/" + link).content.decode()
    # Empty and unknown parameters redirect to the clean URL.
    r = client.get("/", {"q": "", "modality": "MR", "license": "", "junk": "1"})
    assert r.status_code == 302 and r["Location"] == "/?modality=MR"
    # Search reaches wiki text too.
    from collections_app.services import wiki

    page_obj = wiki.ensure_page(Collection.objects.get(slug="lidc-idri"), "overview", "Overview")
    wiki.save_revision(page=page_obj, body="Mentions the word zebrafinch only here.", author=None)
    assert 'href="/collections/lidc-idri/"' in client.get("/", {"q": "zebrafinch"}).content.decode()
    empty = client.get("/", {"q": "no-such-word-anywhere"}).content.decode()
    assert "No collection matches" in empty and "Show all 15 collections" in empty


def test_landing_page_conditional_get_and_layout_parts(client, chest):
    d = selectors.version_doi(chest.latest_version)
    r = client.get(d.get_absolute_url())
    assert r.status_code == 200 and r["ETag"] and r["Last-Modified"]
    page = r.content.decode()
    assert 'class="landing-grid"' in page and "Copy citation" in page and 'class="orcid"' in page
    assert client.get(d.get_absolute_url(), HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    # A metadata change (a new creator, applied as the publish page does) makes a new page.
    from publication import metadata
    from publication.services import update_metadata

    data = metadata.current(chest)
    data["keywords"] = ["lung"]
    data["creators"].append({"name_type": "Personal", "given": "Richard", "family": "Roe", "orcid": "", "affiliation": ""})
    update_metadata(chest, data, actor=None)
    again = client.get(d.get_absolute_url(), HTTP_IF_NONE_MATCH=r["ETag"])
    assert again.status_code == 200 and "Roe, Richard" in again.content.decode()
    # Downloads answer conditional GETs too.
    z = client.get(f"/downloads/versions/{chest.latest_version.pk}.zip")
    assert z["ETag"].startswith("W/")
    assert client.get(f"/downloads/versions/{chest.latest_version.pk}.zip", HTTP_IF_NONE_MATCH=z["ETag"]).status_code == 304


@override_settings(ALLOWED_HOSTS=["archive.example.org", "testserver"])
def test_doi_list_is_html_for_browsers_json_by_accept_with_this_servers_address(client, chest):
    html = client.get("/doi/", HTTP_ACCEPT="text/html,application/xhtml+xml", HTTP_HOST="archive.example.org")
    assert html["Content-Type"].startswith("text/html") and "Demo Chest CT" in html.content.decode()
    data = client.get("/doi/", HTTP_ACCEPT="application/json", HTTP_HOST="archive.example.org").json()
    assert data["dois"] and all(row["url"].startswith("http://archive.example.org/doi/") for row in data["dois"])
    with override_settings(TCIA_SITE_URL="https://data.example.org"):
        data = client.get("/doi/?format=json").json()
        assert all(row["url"].startswith("https://data.example.org/doi/") for row in data["dois"])


@override_settings(ALLOWED_HOSTS=["127.0.0.1"])
def test_login_page_names_the_portal_links_registration_and_there_is_a_favicon(client):
    page = client.get("/accounts/login/", HTTP_HOST="127.0.0.1:8121").content.decode()
    assert "127.0.0.1:8121" not in page
    from django.conf import settings

    assert re.search(r'class="brand"[^>]*>' + re.escape(settings.TCIA_SITE_NAME) + "<", page)
    assert "<title>Log in · " + settings.TCIA_SITE_NAME in page
    assert page.count('href="/proposals/register/"') == 2  # header and the login form
    icon = client.get("/favicon.ico", HTTP_HOST="127.0.0.1:8121")
    assert icon.status_code == 301 and icon["Location"].endswith(".svg")
    assert 'rel="icon"' in page
    logged_in = make_user("reader")
    client.force_login(logged_in)
    assert 'href="/proposals/register/"' not in client.get("/", HTTP_HOST="127.0.0.1:8121").content.decode()
