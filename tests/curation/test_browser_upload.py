"""A curator uploads files in a real browser (Debian's Chromium driven by Playwright): the upload
goes through XMLHttpRequest with a progress bar, then the batch page shows every file's result."""
import pytest

from curation.models import IntakeBatch
from tests.browser import open_page, require_browser
from tests.conftest import make_user

from .intake_helpers import make_submission, sample_bytes

sync_api = require_browser()


@pytest.mark.django_db(transaction=True)
def test_curator_uploads_files_and_sees_each_result(live_server, tmp_path):
    make_user("upload-curator", "curator", is_staff=True)
    submission = make_submission(slug="browser-upload", prefix="BUP")
    good = tmp_path / "ct.dcm"
    good.write_bytes(sample_bytes())
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with open_page(sync_api) as page:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "upload-curator")
        page.fill("#id_password", "pw-upload-curator")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/curation/submissions/{submission.pk}/")
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
