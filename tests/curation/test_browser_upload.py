"""A curator uploads files in a real browser (Debian's Chromium driven by Playwright): the upload
goes through XMLHttpRequest with a progress bar, then the batch page shows every file's result."""
import pytest

from curation.models import IntakeBatch
from tests.browser import login, open_page, require_browser
from tests.conftest import make_user

from .intake_helpers import make_submission, sample_bytes

sync_api = require_browser()


@pytest.mark.django_db(transaction=True)
def test_curator_uploads_files_and_sees_each_result(live_server, tmp_path):
    user = make_user("upload-curator", "curator", is_staff=True)
    submission = make_submission(slug="browser-upload", prefix="BUP")
    good = tmp_path / "ct.dcm"
    good.write_bytes(sample_bytes())
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with open_page(sync_api) as page:
        login(page, live_server, user, f"/curation/submissions/{submission.pk}/")
        page.set_input_files("#id_files", [str(good), str(bad)])
        page.click("#upload-form button[type=submit]")
        page.wait_for_url("**/curation/batches/*/")
        page.wait_for_function("() => document.getElementById('batch-state').textContent.trim() === 'Done'")
        rows = page.locator("#batch-items tbody tr")
        assert rows.count() == 2
        table = page.inner_text("#batch-items")
        assert "ct.dcm" in table and "Accepted" in table
        assert "notes.txt" in table and "Rejected" in table and "not a DICOM file" in table
        assert page.inner_text("#batch-processed") == "2"
    batch = IntakeBatch.objects.get()
    assert (batch.accepted, batch.rejected, batch.state) == (1, 1, "done")


@pytest.mark.django_db(transaction=True)
def test_a_large_selection_goes_in_parts_and_resumes_after_network_errors(live_server, tmp_path):
    from curation.dicom.synth import SeriesSpec, build_series
    from curation.models import StagedFile

    user = make_user("upload-curator", "curator", is_staff=True)
    submission = make_submission(slug="browser-parts", prefix="BPART")
    paths = []
    for i, (_, data) in enumerate(build_series(SeriesSpec("PAT-P", "Doe^P", "st", "se", images=60))):
        path = tmp_path / f"{i:03d}.dcm"
        path.write_bytes(data)
        paths.append(str(path))
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    paths.append(str(empty))
    posts = {"n": 0}

    def flaky(route):
        # The second part is lost on the network five times: the uploader retries, then pauses.
        posts["n"] += 1
        if route.request.method == "POST" and 2 <= posts["n"] <= 6:
            route.abort("connectionreset")
        else:
            route.continue_()

    with open_page(sync_api, timeout_ms=60000) as page:
        login(page, live_server, user, f"/curation/submissions/{submission.pk}/")
        page.route("**/upload/", flaky)
        page.set_input_files("#id_files", paths)
        page.click("#upload-form button[type=submit]")
        page.wait_for_selector("#upload-resume:not([hidden])")
        assert "Upload paused" in page.inner_text("#upload-status")
        page.click("#upload-resume")
        page.wait_for_url("**/curation/batches/*/")
        page.wait_for_function("() => document.getElementById('batch-state').textContent.trim() === 'Done'")
        assert page.inner_text("#batch-processed") == "61"
    batch = IntakeBatch.objects.get()
    assert (batch.state, batch.total, batch.accepted, batch.rejected) == ("done", 61, 60, 1)
    assert StagedFile.objects.filter(batch=batch).count() == 60  # every part staged once
    assert batch.items.get(outcome="rejected").name == "empty.dcm"
