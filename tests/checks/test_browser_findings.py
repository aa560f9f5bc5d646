"""The findings page in a real browser (Debian's Chromium driven by Playwright): groups open onto
their findings, ticking a group ticks its findings and the bulk bar says what is selected, the
bar sits above the groups, and at 390 px and 1366 px nothing is wider than the window (the
finding, preview and correction pages too). With TCIA_SCREENSHOTS=1 the wide page is saved as
docs/screenshots/curation-findings.png."""
import pytest

from tests.browser import login, open_page, overflow, require_browser, screenshot_dir

sync_api = require_browser()

from curation.checks.models import Finding  # noqa: E402
from curation.checks.services import apply_fix, run_checks  # noqa: E402
from tests.checks.builders import ingest, make_submission, series  # noqa: E402

WIDTHS = (390, 1366)


@pytest.fixture
def collection(transactional_db):
    submission = make_submission(slug="findings-browser", prefix="FB")
    files = []
    for n in range(3):
        s = [d for d, _ in series(f"PAT-{n}", f"st{n}", f"se{n}", images=4, series_description="Chest")]
        s[1].SeriesDescription = f"Chest with a rather long misspelt description number {n}"
        s[2].ImageType = ""  # dciodvfy: a Type 1 attribute emptied on one file
        files += s
    ingest(submission, files)
    run_checks(collection=submission.collection)
    return submission.collection


def test_groups_open_and_a_ticked_group_selects_its_findings(live_server, curator, collection, tmp_path_factory):
    path = f"/curation/checks/{collection.slug}/"
    typo = Finding.objects.filter(collection=collection, message__startswith="SeriesDescription differs").first()
    with open_page(sync_api, 1366, 900) as page:
        login(page, live_server, curator, path)
        group = page.locator("details.finding-group", has=page.locator(f'input[value="{typo.group_key}"]'))
        assert group.locator(".group-count").inner_text().strip() == "3"
        rows = group.locator("tbody tr")
        assert not rows.first.is_visible()
        group.locator("summary .group-template").click()
        assert rows.count() == 3 and rows.first.is_visible()
        group.locator(f'input[name="group"][value="{typo.group_key}"]').check()
        assert group.locator("input[name=finding]:checked").count() == 3
        assert group.get_attribute("open") is not None  # ticking did not close it
        assert page.locator("[data-selected]").inner_text() == "1 group selected"
        group.locator("input[name=finding]").first.uncheck()
        assert page.locator("[data-selected]").inner_text() == "2 findings selected"
        bar = page.locator(".bulk-bar").bounding_box()
        first = page.locator("details.finding-group").first.bounding_box()
        assert bar["y"] < first["y"]
        page.screenshot(path=str(screenshot_dir(tmp_path_factory) / "curation-findings.png"), full_page=False)


@pytest.mark.parametrize("width", WIDTHS)
def test_findings_pages_fit_the_window(live_server, curator, collection, width, django_capture_on_commit_callbacks):
    fixable = Finding.objects.filter(collection=collection, fix__isnull=False).first()
    with django_capture_on_commit_callbacks(execute=True):
        correction = apply_fix(finding=Finding.objects.filter(collection=collection, fix__isnull=False).last(),
                               actor=curator, reason="for the page")
    pages = [f"/curation/checks/{collection.slug}/", f"/curation/checks/{collection.slug}/?group={fixable.group_key}",
             f"/curation/checks/findings/{fixable.pk}/", f"/curation/checks/corrections/{correction.pk}/",
             f"/curation/checks/{collection.slug}/corrections/"]
    with open_page(sync_api, width, 900) as page:
        login(page, live_server, curator, pages[0])
        for path in pages:
            page.goto(live_server.url + path)
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert overflow(page) <= 0, f"{path} at {width} px is {overflow(page)} px too wide"
        page.goto(live_server.url + pages[0])
        page.locator("input[name=group]").first.check()
        page.get_by_role("button", name="Preview fixes").click()
        page.wait_for_url("**/bulk/")
        assert "Preview: proposed fixes" in page.content()
        assert overflow(page) <= 0, f"the bulk preview at {width} px is {overflow(page)} px too wide"
