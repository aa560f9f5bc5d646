"""A researcher reports a problem from a DOI landing page in a real browser (Debian's Chromium
through Playwright): the link, the form, the thanks, and the report in the curators' queue."""
import pytest

from tests.browser import open_page, require_browser

sync_api = require_browser()

from collections_app.models import Status  # noqa: E402
from collections_app.services.publish import publish  # noqa: E402
from demo.services import DEMO_COLLECTIONS, load_demo_collection  # noqa: E402
from doi.models import DOI  # noqa: E402
from feedback.models import ProblemReport  # noqa: E402


@pytest.mark.django_db(transaction=True)
def test_a_report_sent_from_a_landing_page(live_server, curator):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=1, images=2)
    collection.status = Status.IN_CURATION
    collection.save()
    version = publish(collection, actor=curator, notes="First release")
    doi = DOI.objects.get(kind="version", version=version)
    uid = version.entries.select_related("series").first().series.series_instance_uid
    with open_page(sync_api) as page:
        page.goto(live_server.url + doi.get_absolute_url())
        page.click("[data-report-problem]")
        page.wait_for_selector("[data-report-form]")
        page.select_option("#id_category", "data")
        page.fill("#id_message", "Image 2 of this series is black.")
        page.fill("#id_series_uid", uid)
        page.fill("#id_email", "reader@example.org")
        assert not page.is_visible("#id_homepage")  # the honeypot is out of sight for people
        page.click("button[type=submit]")
        page.wait_for_selector("[data-report-sent]")
    report = ProblemReport.objects.get()
    assert (report.collection_id, report.version_id, report.series.series_instance_uid, report.page, report.category) == (
        collection.pk, version.pk, uid, "landing", "data")
    assert report.message == "Image 2 of this series is black." and report.reporter_email == "reader@example.org"
