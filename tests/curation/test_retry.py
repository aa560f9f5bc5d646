"""No lost batch: a file that failed keeps its original and is retried from the batch page or
`ingest --retry`; a batch whose worker died is taken over and finished with no file twice and
none missing."""
import io

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import OperationalError
from django.urls import reverse

from collections_app.models import Image
from curation.dicom.synth import SeriesSpec, build_series
from curation.models import IntakeBatch, IntakeItem, StagedFile
from curation.services import intake as intake_module
from curation.services import staging

from .intake_helpers import make_submission

pytestmark = pytest.mark.django_db


def distinct_files(n, key="se"):
    return [data for _, data in build_series(SeriesSpec("PAT-R", "Doe^R", "st", key, images=n))]


@pytest.fixture
def flaky_index(monkeypatch):
    """The database refuses the index write of the second file once (a lock, an outage)."""
    real = intake_module.index_dataset
    calls = {"n": 0}

    def index_dataset(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(intake_module, "index_dataset", index_dataset)
    return calls


def test_a_failed_file_is_kept_and_retried_from_the_batch_page(curator_client, flaky_index,
                                                               django_capture_on_commit_callbacks):
    submission = make_submission()
    files = [SimpleUploadedFile(f"{i}.dcm", d) for i, d in enumerate(distinct_files(4))]
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(reverse("curation:upload", args=[submission.pk]), {"files": files})
    batch = IntakeBatch.objects.get()
    assert (batch.state, batch.processed, batch.accepted, batch.failed) == ("done", 4, 3, 1)
    failed = IntakeItem.objects.get(outcome="failed")
    assert "database was busy" in failed.reason and "OperationalError" not in failed.reason
    assert "database is locked" not in failed.reason  # no raw exception text for curators
    assert failed.quarantined.whole
    page = curator_client.get(reverse("curation:batch", args=[batch.pk])).content.decode()
    assert "Retry 1 failed or rejected file" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(reverse("curation:batch_retry", args=[batch.pk]), follow=True)
    assert "Retrying 1 file." in response.content.decode()
    batch.refresh_from_db()
    assert (batch.state, batch.processed, batch.accepted, batch.failed, batch.total) == ("done", 4, 4, 0, 5)
    failed.refresh_from_db()
    assert failed.superseded_by.outcome == "accepted" and failed.superseded_by.name == failed.name
    assert Image.objects.count() == 4
    assert staging.retryable(batch).count() == 0


def test_ingest_retry_takes_the_failed_files_again(tmp_path, flaky_index):
    submission = make_submission()
    for i, data in enumerate(distinct_files(3)):
        (tmp_path / f"{i}.dcm").write_bytes(data)
    call_command("ingest", str(tmp_path), collection=submission.collection.slug, no_progress=True, stdout=io.StringIO())
    batch = IntakeBatch.objects.get()
    assert (batch.accepted, batch.failed) == (2, 1)
    out = io.StringIO()
    call_command("ingest", retry=batch.pk, no_progress=True, stdout=out)
    assert "retrying 1 file" in out.getvalue() and "3 accepted" in out.getvalue() and "0 failed" in out.getvalue()
    assert Image.objects.count() == 3


def test_a_batch_whose_worker_died_is_taken_over_and_finished(django_capture_on_commit_callbacks):
    submission = make_submission()
    batch = staging.open_batch(submission=submission, source="upload")
    for i, data in enumerate(distinct_files(6)):
        staging.stage(batch, name=f"{i}.dcm", data=data)
    # A worker took two files, then was killed (kill -9): it holds a lease it will never release.
    dead = staging.owner_id().split(":")[0] + ":999999:dead"
    assert staging.claim(batch.pk, dead)
    intake = intake_module.Intake(submission, batch)
    for staged in StagedFile.objects.filter(batch=batch).order_by("position")[:2]:
        staging.take_staged(intake, staged)
    # One more file was taken (its item written) but the process died before marking it done.
    third = StagedFile.objects.get(batch=batch, position=3)
    with storages["quarantine"].open(third.storage_name, "rb") as fh:
        intake.take(fh.read(), third.name, staged=third)
    IntakeBatch.objects.filter(pk=batch.pk).update(closed=True, state="running")
    with django_capture_on_commit_callbacks(execute=True):
        queued = staging.resume_stalled()  # the lease has not expired, but this machine sees its holder is gone
    assert queued == [batch.pk]
    batch.refresh_from_db()
    assert (batch.state, batch.total, batch.processed, batch.accepted) == ("done", 6, 6, 6)
    assert Image.objects.count() == 6 and IntakeItem.objects.count() == 6
    assert not StagedFile.objects.filter(batch=batch, state="waiting").exists()


def test_a_live_lease_is_respected():
    submission = make_submission()
    batch = staging.open_batch(submission=submission, source="upload", closed=True)
    staging.stage(batch, name="a.dcm", data=distinct_files(1)[0])
    assert staging.claim(batch.pk, "elsewhere:1:live")  # a worker on another machine holds it
    assert staging.process_batch(batch.pk).state != "done"
    assert staging.resume_stalled() == []
    assert IntakeItem.objects.count() == 0
