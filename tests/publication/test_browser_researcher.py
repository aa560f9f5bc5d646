"""The researcher's path in a real browser (Debian's Chromium driven by Playwright), issue #15:

from `/`, by links alone, to a published collection's page, its DOI landing page, a download
and its series list; and every public page holds its layout at 390 px (a phone) and 1366 px
(a laptop): nothing wider than the window, nothing under the landing page's sidebar.
Screenshots go to docs/screenshots/ with TCIA_SCREENSHOTS=1."""
import pytest

from tests.browser import open_page, overflow, require_browser, screenshot_dir

sync_api = require_browser()

from collections_app.services.catalogue import load_catalogue  # noqa: E402
from demo.services import load_demo  # noqa: E402
from doi.models import DOI  # noqa: E402

WIDTHS = (390, 1366)


def overlaps(page, a: str, b: str) -> bool:
    return page.evaluate("""([a, b]) => {
        const x = document.querySelector(a).getBoundingClientRect(), y = document.querySelector(b).getBoundingClientRect();
        return !(x.right <= y.left || y.right <= x.left || x.bottom <= y.top || y.bottom <= x.top);
    }""", [a, b])


@pytest.fixture
def archive(transactional_db):
    load_catalogue()
    load_demo()
    return DOI.objects.filter(kind="version", version__collection__slug="demo-chest-ct").get()


@pytest.mark.django_db(transaction=True)
def test_researcher_reaches_collection_landing_download_and_series_by_links(live_server, archive, tmp_path_factory):
    shots = screenshot_dir(tmp_path_factory)
    with open_page(sync_api, 1366, 900) as page:
        page.goto(live_server.url + "/")
        page.get_by_role("link", name="CT", exact=True).first.click()  # a modality facet applies at once
        assert "modality=CT" in page.url
        page.screenshot(path=str(shots / "catalogue.png"), full_page=True)
        page.get_by_role("link", name="Demo Chest CT").click()
        assert page.url.endswith("/collections/demo-chest-ct/")
        assert "Cite this collection" in page.content()
        page.screenshot(path=str(shots / "collection.png"), full_page=True)
        page.locator("a[data-landing]").click()
        assert f"/doi/{archive.doi}" in page.url
        assert page.locator("h1").inner_text() == "Demo Chest CT"
        page.screenshot(path=str(shots / "landing.png"), full_page=True)
        with page.expect_download() as download:
            page.locator(".downloads a[data-download]").first.click()
        assert download.value.suggested_filename == "Demo-Chest-CT-v1.zip"
        page.locator(".downloads a[data-series-list]").click()
        assert page.url.endswith("/collections/demo-chest-ct/series/")
        assert page.locator("tbody tr").count() == 12  # 3 subjects x 2 studies x 2 series


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_public_pages_fit_the_window(live_server, archive, width, tmp_path_factory):
    shots = screenshot_dir(tmp_path_factory)
    pages = {"catalogue": "/", "collection": "/collections/demo-chest-ct/", "landing": f"/doi/{archive.doi}",
             "series": "/collections/demo-chest-ct/series/", "dois": "/doi/", "login": "/accounts/login/",
             "seed": "/collections/lidc-idri/", "empty-search": "/?q=no-such-collection-anywhere"}
    with open_page(sync_api, width, 900) as page:
        for name, path in pages.items():
            page.goto(live_server.url + path)
            assert overflow(page) <= 0, f"{path} at {width} px is {overflow(page)} px too wide"
            if name == "landing":
                # Nothing of the main column or the download table runs under the sidebar.
                assert not overlaps(page, ".landing-main", "aside.facts")
                assert not overlaps(page, ".downloads", "aside.facts")
                table = page.locator("table.versions")
                assert table.bounding_box()["width"] <= width
            if width == 390 and name in ("landing", "catalogue"):
                page.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
