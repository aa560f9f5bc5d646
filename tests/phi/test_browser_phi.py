"""A curator works through the PHI report in a real browser (Debian's Chromium driven by
Playwright): values still pending are counted before the page shows them; the report is grouped
by tag path; the mark/apply bar stays in view while the page scrolls; j/k move, x selects and m
marks; the likely-PHI filter works; and at 390 px and 1366 px no PHI page is wider than the
screen (a wide table scrolls inside its box). The wide page is saved as
docs/screenshots/curation-phi-report.png with TCIA_SCREENSHOTS=1."""
import pytest

from tests.browser import login, open_page, require_browser, screenshot_dir

sync_api = require_browser()

from curation.phi.models import PhiImport, PhiMark, PhiPending  # noqa: E402
from curation.services.intake import Intake, start_batch  # noqa: E402
from tests.checks.builders import encode, ingest, make_submission, series  # noqa: E402

WIDTH = "[document.documentElement.scrollWidth, window.innerWidth]"


@pytest.mark.django_db(transaction=True)
def test_curator_works_through_the_phi_report(live_server, curator, tmp_path_factory):
    submission = make_submission(slug="phi-browser", prefix="PHIB")
    first = [d for d, _ in series("PAT-A", "s1", "a1", images=3, series_description="Chest")]
    ingest(submission, first)
    # one more file whose values are still pending when the curator opens the page
    late = series("PAT-B", "s2", "b1", images=1, series_description="Pelvis")[0][0]
    Intake(submission, start_batch(submission=submission, source="cli")).take(encode(late), "late.dcm")
    assert PhiPending.objects.filter(collection=submission.collection).count() == 1
    phi_import = PhiImport.objects.create(collection=submission.collection, actor=curator, filename="edited.csv",
                                          errors=[{"row": 3, "column": "argument", "message": "shift needs a whole number " * 6}])
    url = f"{live_server.url}/curation/phi/phi-browser/"

    shots = screenshot_dir(tmp_path_factory)
    with open_page(sync_api, 1366, 900) as page:
        login(page, live_server, curator, "/curation/phi/phi-browser/")
        page.screenshot(path=str(shots / "curation-phi-report.png"), full_page=False)
        page.goto(url + "?tag=(0008,103E)")
        group = page.locator("section.phi-group", has=page.locator("h2 code", has_text="(0008,103E)"))
        assert group.locator("tr", has_text="Pelvis").count() == 1  # counted on read
        assert not PhiPending.objects.filter(collection=submission.collection).exists()
        chest = group.locator("tr", has_text="Chest")
        assert chest.locator("td.num").first.inner_text().strip() == "3"  # files holding it
        page.goto(url)

        # the bar stays in view at the top of the page and after scrolling half way
        bar = page.locator(".phi-bar")
        for y in (0, 2000):
            page.evaluate(f"window.scrollTo(0, {y})")
            box = bar.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= 900 + 1, (y, box)
        assert page.evaluate("document.documentElement.scrollHeight") > 1800  # the page is long: the test means something

        # keyboard: j j x selects the second value, m marks it (the disposition chosen in the bar)
        page.evaluate("window.scrollTo(0, 0)")
        page.locator("h1").click()
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("k")
        page.keyboard.press("j")
        page.keyboard.press("x")
        boxes = page.locator('tr[data-phi-row] input[name="value"]')
        assert [boxes.nth(i).is_checked() for i in range(3)] == [False, True, False]
        assert page.locator("[data-selected-count]").inner_text() == "1"
        second = boxes.nth(1).get_attribute("value")
        page.select_option("#m-action", "remove")
        page.locator("h1").click()
        page.keyboard.press("m")
        page.wait_for_load_state("load")
        page.wait_for_selector("text=1 value marked remove")
        assert list(PhiMark.objects.values_list("value_id", "action")) == [(int(second), "remove")]
        assert page.locator(".phi-bar button", has_text="Apply 1 disposition").is_enabled()

        page.goto(url + "?likely=1")
        tags = page.locator("section.phi-group h2 code").all_inner_texts()
        assert tags and "(0008,103E)" not in tags  # a series description is not likely PHI

        pages = [url, url + "?path=(0008,103E)", url + "import/", url + f"import/{phi_import.pk}/", url + "deid-score/"]
        for width in (390, 1366):
            page.set_viewport_size({"width": width, "height": 800})
            for target in pages:
                page.goto(target)
                page_width, viewport = page.evaluate(WIDTH)
                assert page_width <= viewport, f"{target} is {page_width}px wide on a {viewport}px screen"
        page.set_viewport_size({"width": 390, "height": 800})
        page.goto(url)
        box_scrolls = page.evaluate("(() => { const b = document.querySelector('.table-scroll');"
                                    " return b.scrollWidth > b.clientWidth; })()")
        assert box_scrolls  # the table is wider than a phone: it scrolls inside its box
        bar = page.locator(".phi-bar").bounding_box()
        assert bar["x"] >= 0 and bar["x"] + bar["width"] <= 390 + 1
