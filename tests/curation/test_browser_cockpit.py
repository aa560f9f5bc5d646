"""The curation pages outside the checks, PHI and review apps hold at 390 px and 1366 px (no
horizontal overflow), and the cockpit shows its steps in order in a real browser."""
import pytest
from django.urls import reverse

from curation.models import IntakeBatch
from curation.services.intake import Intake, start_batch
from tests.browser import login, open_page, overflow, require_browser, screenshot_dir

from .intake_helpers import make_submission, sample_bytes

sync_api = require_browser()
WIDTHS = (390, 1366)


@pytest.fixture
def submission(transactional_db):
    submission = make_submission(slug="cockpit-browser-with-a-long-collection-name", prefix="CKB")
    submission.promised_series = 4
    submission.save()
    batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, total=3,
                        label="a-rather-long-folder-name/with/nested/parts/that/does/not/wrap/easily")
    intake = Intake(submission, batch)
    intake.take(sample_bytes(SOPInstanceUID="1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.1"), "first.dcm")
    intake.take(sample_bytes(SOPInstanceUID="1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.2"), "second.dcm")
    intake.take(b"not DICOM at all " * 10, "a-file-with-a-very-long-name-that-was-not-dicom-at-all.txt")
    intake.finish()
    return submission


def test_cockpit_steps_in_a_browser_and_no_page_overflows(live_server, curator, submission, tmp_path_factory):
    batch = submission.batches.first()
    slug = submission.collection.slug
    pages = [reverse("curation:submission", args=[submission.pk]), reverse("curation:dashboard"),
             reverse("curation:batch", args=[batch.pk]), reverse("curation:quarantine", args=[submission.pk]),
             reverse("curation:subjects", args=[submission.pk]), reverse("fixity:dashboard"),
             reverse("feedback:queue"), reverse("supporting:list", args=[slug]),
             reverse("curation:review:queue"), reverse("curation:review:collection", args=[slug])]
    from curation.review.models import ImageClass

    image_class = ImageClass.objects.filter(collection=submission.collection).first()
    pages += [reverse("curation:review:image_class", args=[image_class.pk]),
              reverse("curation:review:series", args=[image_class.series_id]),
              reverse("curation:review:viewer", args=[image_class.series_id])]
    shots = screenshot_dir(tmp_path_factory)
    for width in WIDTHS:
        with open_page(sync_api, width, 900) as page:
            login(page, live_server, curator, pages[0])
            steps = page.locator(".cockpit-step")
            keys = [steps.nth(i).get_attribute("data-step") for i in range(steps.count())]
            assert keys[0] == "received" and keys[-1] == "publishable" and "review" in keys and "phi" in keys
            received = page.locator('[data-step="received"]')
            assert received.get_attribute("data-state") == "attention"
            assert "3 fewer series than the 4 promised" in received.inner_text()
            assert page.locator('[data-step="publishable"]').get_attribute("data-state") == "blocked"
            assert page.locator(".timeline li").count() >= 1
            page.screenshot(path=str(shots / f"curation-cockpit{'-phone' if width < 500 else ''}.png"), full_page=True)
            for path in pages:
                page.goto(live_server.url + path)
                assert overflow(page) <= 0, (width, path, overflow(page))
