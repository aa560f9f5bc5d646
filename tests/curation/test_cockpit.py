"""The submission cockpit: each step's state from what intake and curation did, and a timeline."""
import pytest
from django.urls import reverse

from collections_app.services.publish import GateFailure, register_gate, unregister_gate
from curation import cockpit
from curation.models import IntakeBatch
from curation.services.intake import Intake, start_batch

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db


def ingest(submission, files):
    batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, total=len(files))
    intake = Intake(submission, batch)
    for name, data in files:
        intake.take(data, name)
    return intake.finish()


def by_key(submission):
    return {s.key: s for s in cockpit.steps(submission)}


def test_an_empty_submission_is_waiting_and_steps_are_numbered_in_order():
    submission = make_submission()
    steps = cockpit.steps(submission)
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    keys = [s.key for s in steps]
    assert keys[0] == "received" and keys[-1] == "publishable"
    assert steps[0].state == cockpit.WAITING


def test_received_warns_on_fewer_or_more_than_promised():
    submission = make_submission()
    ingest(submission, [("a.dcm", sample_bytes(SOPInstanceUID="1.2.3.4.1"))])
    submission.collection.refresh_from_db()
    submission.promised_series, submission.promised_subjects = 3, 1
    submission.save()
    step = by_key(submission)["received"]
    assert step.state == cockpit.ATTENTION
    assert "1 of 3 promised series" in step.summary and "1 of 1 promised subjects" in step.summary
    assert "2 fewer series than the 3 promised" in step.details
    submission.promised_series = 1
    submission.save()
    assert by_key(submission)["received"].state == cockpit.DONE
    submission.promised_series = submission.promised_subjects = None  # nothing promised: plain counts
    submission.save()
    assert by_key(submission)["received"].summary == "1 image, 1 series, 1 subject"


def test_more_than_promised_is_a_warning_too():
    submission = make_submission()
    ingest(submission, [("a.dcm", sample_bytes(SOPInstanceUID="1.2.3.4.1", SeriesInstanceUID="1.2.3.9.1")),
                        ("b.dcm", sample_bytes(SOPInstanceUID="1.2.3.4.2", SeriesInstanceUID="1.2.3.9.2"))])
    submission.promised_series = 1
    submission.save()
    assert "1 more series than the 1 promised" in by_key(submission)["received"].details


def test_rejected_files_make_the_quarantine_step_ask_for_attention_and_show_in_the_timeline():
    submission = make_submission()
    batch = ingest(submission, [("good.dcm", sample_bytes()), ("junk.txt", b"not dicom")])
    step = by_key(submission)["quarantine"]
    assert step.state == cockpit.ATTENTION and step.summary.startswith("1 file rejected")
    events = cockpit.timeline(submission)
    assert any(e.kind == "batch" and f"#{batch.pk}" in e.text and "1 rejected" in e.text for e in events)


def test_publishable_lists_every_gate_that_refuses():
    submission = make_submission()
    ingest(submission, [("a.dcm", sample_bytes())])

    def refuse(collection):
        return [GateFailure("A planted gate refuses", "/x/")]

    register_gate(refuse)
    try:
        step = by_key(submission)["publishable"]
        assert step.state == cockpit.BLOCKED and "A planted gate refuses" in step.details
    finally:
        unregister_gate(refuse)
    assert "A planted gate refuses" not in by_key(submission)["publishable"].details


def test_the_submission_page_shows_the_steps_and_the_activity(curator_client):
    submission = make_submission()
    ingest(submission, [("a.dcm", sample_bytes())])
    html = curator_client.get(reverse("curation:submission", args=[submission.pk])).content.decode()
    assert 'data-step="received" data-state="done"' in html
    assert 'data-step="publishable"' in html and "Activity" in html and "1 accepted" in html
