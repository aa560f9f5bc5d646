"""A curator reads the PHI report in a real browser (Debian's Chromium driven by Playwright):
values that are still pending are counted before the page shows them, the likely-PHI filter
works, and on a phone-sized screen the table scrolls inside its box instead of widening the page.
The wide page is saved as docs/screenshots/curation-phi-report.png with TCIA_SCREENSHOTS=1."""
import pytest

from tests.browser import open_page, require_browser, screenshot_dir

sync_api = require_browser()

from curation.phi.models import PhiPending  # noqa: E402
from curation.services.intake import Intake, start_batch  # noqa: E402
from tests.checks.builders import encode, ingest, make_submission, series  # noqa: E402


@pytest.mark.django_db(transaction=True)
def test_curator_reads_the_phi_report(live_server, curator, tmp_path_factory):
    submission = make_submission(slug="phi-browser", prefix="PHIB")
    first = [d for d, _ in series("PAT-A", "s1", "a1", images=3, series_description="Chest")]
    ingest(submission, first)
    # one more file whose values are still pending when the curator opens the page
    late = series("PAT-B", "s2", "b1", images=1, series_description="Pelvis")[0][0]
    Intake(submission, start_batch(submission=submission, source="cli")).take(encode(late), "late.dcm")
    assert PhiPending.objects.filter(collection=submission.collection).count() == 1

    shots = screenshot_dir(tmp_path_factory)
    with open_page(sync_api, 1280, 900) as page:
        page.goto(f"{live_server.url}/accounts/login/?next=/curation/phi/phi-browser/")
        page.get_by_label("Username").fill(curator.username)
        page.get_by_label("Password").fill("pw-" + curator.username)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/curation/phi/phi-browser/**")
        table = page.locator("table.table")
        assert table.locator("tr", has_text="(0008,103E)").filter(has_text="Pelvis").count() == 1  # counted on read
        assert not PhiPending.objects.filter(collection=submission.collection).exists()
        chest = table.locator("tr", has_text="(0008,103E)").filter(has_text="Chest")
        assert chest.locator("td.num").first.inner_text().strip() == "3"  # files holding it
        page.screenshot(path=str(shots / "curation-phi-report.png"), full_page=False)

        page.goto(f"{live_server.url}/curation/phi/phi-browser/?likely=1")
        tags = table.locator("tbody tr td:nth-child(2) code").all_inner_texts()
        assert tags and "(0008,103E)" not in tags  # a series description is not likely PHI

        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(f"{live_server.url}/curation/phi/phi-browser/")
        page_width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert page_width <= viewport, f"the page is {page_width}px wide on a {viewport}px screen"
        box_scrolls = page.evaluate("(() => { const b = document.querySelector('.table-scroll');"
                                    " return b.scrollWidth > b.clientWidth; })()")
        assert box_scrolls  # the table is wider than a phone: it scrolls inside its box
