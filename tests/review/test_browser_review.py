"""A curator reviews in a real browser (Debian's Chromium driven by Playwright).

They log in, see that opening a class page takes nothing, take the next image class (the
ultrasound class with burned-in text comes first), flag it for masking and judge the CT class
Good with the keyboard (each key press takes the next class) and see the images counted; then
drill down into the flagged class, draw a mask over the name with the mouse, preview and approve
it, and look through the CT series in the viewer (scroll, presets, window by dragging, a
verdict). Screenshots of the class page, grid and viewer go to docs/screenshots/."""

import pytest

from tests.browser import open_page, require_browser, screenshot_dir

sync_api = require_browser()

from curation.models import Correction  # noqa: E402
from curation.review import derived  # noqa: E402
from curation.review.models import ImageClass, Verdict  # noqa: E402
from tests.conftest import make_user  # noqa: E402

from .helpers import ct_series_bytes, ingest, series_of, us_text_bytes  # noqa: E402



@pytest.fixture
def page():
    with open_page(sync_api, 1360, 1000, 20000) as pg:
        yield pg


@pytest.mark.django_db(transaction=True)
def test_curator_reviews_flags_masks_and_sees_progress(live_server, page, tmp_path_factory):
    SHOTS = screenshot_dir(tmp_path_factory)
    user = make_user("reviewer", "curator", is_staff=True)
    sub = ingest(ct_series_bytes(6, body_part="CHEST") + us_text_bytes(2), slug="browser-review", prefix="BRV")
    us, ct = series_of(sub, "US").get(), series_of(sub, "CT").get()

    page.goto(f"{live_server.url}/accounts/login/?next=/curation/review/c/{sub.collection.slug}/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-reviewer")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/curation/review/c/{sub.collection.slug}/")
    assert page.locator("#collection-progress").inner_text() == "0 / 8"
    assert page.locator("#class-progress").inner_text() == "0 / 2"
    us_class, ct_class = ImageClass.objects.get(series=us), ImageClass.objects.get(series=ct)

    # Opening a class page takes nothing: the CT class stays free until a key or a click.
    page.goto(f"{live_server.url}/curation/review/class/{ct_class.pk}/")
    assert page.locator("#take-btn").is_visible()
    ct_class.refresh_from_db()
    assert ct_class.claimed_by is None

    # The class with burned-in text comes first; taking it (a click) starts the lease.
    page.goto(f"{live_server.url}/curation/review/c/{sub.collection.slug}/")
    page.locator("#claim-next").click()
    page.wait_for_url(f"**/curation/review/class/{us_class.pk}/")
    assert "yours until" in page.locator("#lease").inner_text()
    assert page.locator("#class-size").inner_text() == "2 images"
    page.wait_for_function("() => document.getElementById('montage').naturalWidth > 0")
    assert page.locator("#montage").evaluate("e => e.naturalWidth") == 3 * 320 + 2 * 4  # max | mean | min
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "review-class.png"), full_page=True)

    # Keyboard: flag the class for masking; the same key press takes the next class (the CT).
    page.keyboard.press("p")
    page.wait_for_url(f"**/curation/review/class/{ct_class.pk}/")
    assert set(Verdict.objects.filter(series=us, current=True).values_list("verdict", flat=True)) == {"phi"}
    assert "yours until" in page.locator("#lease").inner_text()
    assert page.locator("#class-progress").inner_text() == "1 / 2"
    assert page.locator("#collection-progress").inner_text() == "2 / 8"
    # Good for the whole CT class: its six images are counted; the queue is empty, back to the collection.
    page.keyboard.press("a")
    page.wait_for_url(f"**/curation/review/c/{sub.collection.slug}/")
    assert page.locator("#class-progress").inner_text() == "2 / 2"
    assert page.locator("#collection-progress").inner_text() == "8 / 8"
    assert "2 images flagged for masking are not masked." in page.locator(".gate").inner_text()
    assert Verdict.objects.filter(series=ct, current=True, verdict="ok").count() == 6

    # Drill down into the flagged class: its images one by one in the viewer.
    page.goto(f"{live_server.url}/curation/review/class/{us_class.pk}/")
    page.keyboard.press("d")
    page.wait_for_url(f"**/series/{us.pk}/view/?cls={us_class.pk}")
    assert page.locator("#position").inner_text() == "Image 1 / 2"
    assert "12345678" in page.locator("#text-boxes").inner_text()  # OCR proposal listed
    assert "preview" in page.locator("#fidelity").inner_text()

    # Flag burned-in PHI with the keyboard, then draw a rectangle over the text with the mouse.
    page.locator("#stage").focus()
    page.keyboard.press("p")
    assert page.locator("#mask-panel").is_visible()
    canvas = page.locator("#mask-canvas")
    box = canvas.bounding_box()
    sx, sy = box["width"] / 320, box["height"] / 240  # 320 x 240 image
    page.mouse.move(box["x"] + 1 * sx, box["y"] + 1 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + 150 * sx, box["y"] + 15 * sy, steps=5)
    page.mouse.move(box["x"] + 260 * sx, box["y"] + 28 * sy, steps=5)
    page.mouse.up()
    assert page.locator("#rect-count").inner_text() == "1"
    page.get_by_label("Every image in the collection with the same device signature").check()
    page.locator("#stage").focus()
    page.keyboard.press("Enter")  # preview the masked result
    page.wait_for_selector("#mask-approve-btn:not([hidden])")
    assert "MASKED PREVIEW" in page.locator("#fidelity").inner_text()
    assert "2 image(s)" in page.locator("#mask-status").inner_text()
    assert not Correction.objects.exists()  # nothing written before approval
    page.screenshot(path=str(SHOTS / "review-viewer.png"), full_page=True)
    page.keyboard.press("Enter")  # approve
    page.wait_for_function("() => document.getElementById('mask-panel').hidden")
    assert "Mask applied as correction" in page.locator("#status").inner_text()
    assert page.locator("#series-progress").inner_text() == "2 / 2"
    assert page.locator("#collection-progress").inner_text() == "8 / 8"
    correction = Correction.objects.get()
    assert correction.kind == "pixel_mask" and correction.files.count() == 2
    first = us.images.order_by("instance_number").first()
    arr = derived.read_dataset(first.stored_file).pixel_array
    assert arr[2:26, 2:250].max() == 0  # the name and MRN are gone from the file
    v = Verdict.objects.get(image=first, current=True)
    assert v.verdict == "phi" and v.masked_by == correction

    # The second frame was masked by the device-wide mask; mark it Good with the keyboard.
    page.keyboard.press("ArrowDown")
    assert page.locator("#position").inner_text() == "Image 2 / 2"
    page.keyboard.press("a")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('Good recorded for image 2')")
    second = us.images.order_by("instance_number")[1]
    assert Verdict.objects.get(image=second, current=True).verdict == "ok"

    # The CT series in the viewer: scroll, presets, drag the window, verdicts: all from the key map.
    page.goto(f"{live_server.url}/curation/review/c/{sub.collection.slug}/")
    page.screenshot(path=str(SHOTS / "review-queue.png"), full_page=True)
    page.goto(f"{live_server.url}/curation/review/series/{ct.pk}/")
    assert page.locator("#thumb-grid .sheet-cell").count() == 6
    sheet = page.locator("#thumb-grid .sheet-cell").first.evaluate("e => getComputedStyle(e).backgroundImage")
    assert "/sheet/" in sheet
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SHOTS / "review-grid.png"), full_page=True)
    page.get_by_role("link", name="Open the viewer").click()
    page.wait_for_url(f"**/series/{ct.pk}/view/")
    assert "CHEST" in page.locator("#body-part").inner_text() and "Lung" in page.locator("#anatomic-sites").inner_text()
    page.locator("#stage").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.locator("#position").inner_text() == "Image 3 / 6"
    page.mouse.move(0, 0)
    stage = page.locator("#stage").bounding_box()
    page.mouse.wheel(0, -200)
    assert page.locator("#position").inner_text() in ("Image 2 / 6", "Image 3 / 6")
    page.keyboard.press("Home")
    page.keyboard.press("1")
    assert "lung" in page.locator("#window-label").inner_text()
    assert "/lung/0.jpg" in page.locator("#view-img").get_attribute("src")
    # window/level by dragging switches to full fidelity, windowed in the browser
    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] / 2 + 60, stage["y"] + stage["height"] / 2 + 20, steps=6)
    page.mouse.up()
    page.wait_for_function("() => document.getElementById('fidelity').textContent.startsWith('full fidelity')")
    assert "dragged" in page.locator("#window-label").inner_text()
    page.keyboard.press("+")
    assert "zoom 125" in page.locator("#zoom-label").inner_text()
    page.keyboard.press("z")
    # change one image's verdict: the new one supersedes the one the class verdict wrote
    page.keyboard.press("Home")
    page.keyboard.press("b")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('replaces the earlier verdict')")
    first_ct = ct.images.order_by("instance_number").first()
    rows = list(Verdict.objects.filter(image=first_ct).order_by("pk").values_list("verdict", "current", "class_verdict"))
    assert [(v, c) for v, c, _ in rows] == [("ok", False), ("bad", True)] and rows[0][2] and rows[1][2] is None
    assert page.locator("#series-progress").inner_text() == "6 / 6"
    # the shortcut list is on screen
    assert "Flag for masking" in page.locator("#keys").inner_text()
