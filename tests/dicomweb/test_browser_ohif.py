"""OHIF, served at /viewer/, opens a published demo study from /dicomweb/ in Debian's Chromium
with WebGL through SwiftShader: the viewport canvas shows an image (not a blank frame), the
study browser lists the study's series, every frame request succeeds, and the page's CSP is
not violated. Skipped when the viewer is not installed (`make ohif`), unless TCIA_REQUIRE_OHIF=1
(as CI sets it), where a missing viewer fails."""
import os
import time

import pytest

from collections_app.models import VersionSeries
from dicomweb import viewer
from tests.browser import CHROMIUM, require_browser, screenshot_dir
from tests.dicomweb.conftest import build_published

sync_api = require_browser()

WEBGL_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


@pytest.fixture(autouse=True)
def ohif_installed():
    if not viewer.installed():
        if os.environ.get("TCIA_REQUIRE_OHIF") == "1":
            pytest.fail(f"OHIF {viewer.OHIF_VERSION} is not installed in {viewer.root()} (make ohif)")
        pytest.skip(f"OHIF {viewer.OHIF_VERSION} is not installed (make ohif)")


CANVAS_STATS = """() => {
  const c = document.querySelector('canvas.cornerstone-canvas');
  if (!c || !c.width) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let min = 255, max = 0, lit = 0;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i]; if (v < min) min = v; if (v > max) max = v; if (v > 16) lit++;
  }
  return {min, max, lit, pixels: d.length / 4, width: c.width, height: c.height};
}"""


def open_study(live_server, study, shot=None, version_id=None):
    """Open `study` in OHIF; (canvas stats, thumbnails, frame URLs, failed responses, CSP messages)."""
    frames, failures, csp = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60000)
        page.on("request", lambda r: frames.append(r.url) if "/frames/" in r.url else None)
        page.on("response", lambda r: failures.append((r.status, r.url)) if r.status >= 400 else None)
        page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
        try:
            page.goto(f"{live_server.url}{viewer.viewer_url(study, version_id=version_id)}")
            page.wait_for_selector("canvas.cornerstone-canvas")
            skip = page.locator("button", has_text="Skip all")
            try:
                skip.click(timeout=5000)  # the first-visit tour
            except sync_api.TimeoutError:
                pass
            stats = None
            for _ in range(60):
                stats = page.evaluate(CANVAS_STATS)
                if stats and stats["max"] - stats["min"] > 40 and stats["lit"] > stats["pixels"] * 0.05:
                    break
                time.sleep(0.5)
            thumbnails = page.locator('[data-cy="study-browser-thumbnail"]').count()
            if shot:
                page.screenshot(path=str(shot))
        finally:
            browser.close()
    return stats, thumbnails, frames, failures, csp


def assert_rendered(stats):
    assert stats is not None, "the viewport has no canvas"
    assert stats["max"] - stats["min"] > 40 and stats["lit"] > stats["pixels"] * 0.05, f"blank viewport: {stats}"


@pytest.mark.django_db(transaction=True)
def test_ohif_opens_a_demo_study(live_server, tmp_path_factory):
    v_public, _ = build_published()
    snaps = list(VersionSeries.objects.filter(version=v_public).order_by("study_instance_uid", "series_number"))
    study = snaps[0].study_instance_uid
    series_in_study = [s for s in snaps if s.study_instance_uid == study]
    stats, thumbnails, frames, failures, csp = open_study(
        live_server, study, screenshot_dir(tmp_path_factory) / "ohif-viewer.png")

    assert_rendered(stats)
    assert thumbnails == len(series_in_study)
    assert frames and all(f"/dicomweb/studies/{study}/series/" in url for url in frames)
    assert not failures, failures
    assert not csp, "\n".join(csp)


@pytest.mark.django_db(transaction=True)
def test_ohif_decodes_compressed_frames_under_the_csp(live_server):
    """JPEG 2000 frames travel as stored and are decoded in the browser (WebAssembly codecs in
    web workers), so the CSP must let the codecs run. Opened on its pinned version's root, as the
    landing page's "View images" opens it."""
    import io

    import pydicom
    from pydicom.data import get_testdata_file

    from collections_app.models import Collection
    from collections_app.services.indexing import index_dataset
    from collections_app.services.publish import publish
    from collections_app.services.storage import store_bytes

    collection = Collection.objects.create(slug="dw-j2k", title="DW J2K", short_name="DW-J2K", subject_prefix="DWJ",
                                           status="published")
    data = open(get_testdata_file("JPEG2000.dcm", download=False), "rb").read()
    ds = pydicom.dcmread(io.BytesIO(data))
    index_dataset(collection=collection, ds=ds, stored_file=store_bytes(data))
    version = publish(collection, actor=None, notes="J2K sample")
    stats, thumbnails, frames, failures, csp = open_study(live_server, ds.StudyInstanceUID, version_id=version.pk)
    assert_rendered(stats)
    assert thumbnails == 1 and frames and not failures and not csp, (failures, csp)
    assert all(f"/dicomweb/versions/{version.pk}/studies/" in url for url in frames)
