"""A curator attaches a supporting file in a real browser: the form goes by XMLHttpRequest with
a progress bar, then the file's page shows its profile; a bad file's reason is shown in place."""
import pytest

from supporting.models import SupportingFile
from tests.browser import login, open_page, require_browser
from tests.conftest import make_user
from tests.supporting.conftest import csv_bytes

sync_api = require_browser()


@pytest.mark.django_db(transaction=True)
def test_curator_attaches_a_table_with_progress(live_server, tmp_path, chest):
    user = make_user("supp-curator", "curator", is_staff=True)
    subject = chest.subjects_index.order_by("patient_id").first().patient_id
    good = tmp_path / "clinical.csv"
    good.write_bytes(csv_bytes([["PatientID", "Surname", "Stage"], [subject, "Doe", "II"]]))
    bad = tmp_path / "broken.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with open_page(sync_api) as page:
        login(page, live_server, user, f"/curation/supporting/{chest.slug}/")
        page.set_input_files("#id_file", str(bad))
        page.click("#attach-form button[type=submit]")
        page.wait_for_function("() => document.getElementById('attach-status').textContent.includes('Not attached')")
        assert "broken.xlsx: not a readable XLSX workbook" in page.inner_text("#attach-status")
        assert page.is_visible("#attach-progress")
        page.set_input_files("#id_file", str(good))
        page.click("#attach-form button[type=submit]")
        page.wait_for_url("**/curation/supporting/files/*/")
        assert page.locator('#profile tr[data-column="Surname"] [data-flag="name"]').count() == 1
    assert SupportingFile.objects.get().name == "clinical.csv"
