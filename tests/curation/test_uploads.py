"""Browser uploads that scale: a selection goes in many requests into one batch, a resent request
stages nothing twice, limits hold while receiving, and a bad file never costs the good ones."""
import json

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from collections_app.models import Image
from curation.dicom.synth import SeriesSpec, build_series
from curation.models import IntakeBatch, IntakeItem, QuarantinedFile, StagedFile

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db


def distinct_files(n):
    """n distinct small CT files (one series), as bytes."""
    return [data for _, data in build_series(SeriesSpec("PAT-U", "Doe^U", "st", "se", images=n))]


def post(client, submission, files, *, capture, **fields):
    with capture(execute=True):
        return client.post(reverse("curation:upload", args=[submission.pk]), {**fields, **files},
                           HTTP_X_REQUESTED_WITH="XMLHttpRequest")


def test_an_empty_file_is_rejected_alone_and_the_others_are_taken(curator_client, django_capture_on_commit_callbacks):
    submission = make_submission()
    files = {"files": [SimpleUploadedFile("good1.dcm", sample_bytes()), SimpleUploadedFile("empty.dcm", b""),
                       SimpleUploadedFile("good2.dcm", sample_bytes("MR_small.dcm"))]}
    response = post(curator_client, submission, files, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert response.json()["rejected"] == [{"name": "empty.dcm", "reason": "empty file (0 bytes)"}]
    batch = IntakeBatch.objects.get()
    assert (batch.state, batch.total, batch.accepted, batch.rejected) == ("done", 3, 2, 1)
    assert IntakeItem.objects.get(name="empty.dcm").reason == "empty file (0 bytes)"


def test_more_than_a_hundred_files_in_one_request(curator_client, django_capture_on_commit_callbacks):
    submission = make_submission()
    data = distinct_files(120)
    files = {"files": [SimpleUploadedFile(f"f{i:03d}.dcm", d) for i, d in enumerate(data)]}
    response = post(curator_client, submission, files, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200, response.content[:300]
    batch = IntakeBatch.objects.get()
    assert (batch.state, batch.total, batch.processed, batch.accepted) == ("done", 120, 120, 120)
    assert Image.objects.count() == 120


def test_a_selection_in_parts_with_a_resent_part_is_one_batch(curator_client, django_capture_on_commit_callbacks):
    submission = make_submission()
    data = distinct_files(5)
    capture = django_capture_on_commit_callbacks
    first = post(curator_client, submission, {f"file:k-{i}": SimpleUploadedFile(f"{i}.dcm", data[i]) for i in range(3)},
                 capture=capture, more="1").json()
    batch = IntakeBatch.objects.get(pk=first["batch"])
    assert not batch.closed and batch.state != "done"  # more parts may come
    # The answer to the second part was lost on the network: the uploader sends it again.
    part = {f"file:k-{i}": SimpleUploadedFile(f"{i}.dcm", data[i]) for i in range(3, 5)}
    post(curator_client, submission, part, capture=capture, more="1", batch=str(batch.pk))
    part = {f"file:k-{i}": SimpleUploadedFile(f"{i}.dcm", data[i]) for i in range(3, 5)}
    again = post(curator_client, submission, part, capture=capture, more="1", batch=str(batch.pk))
    assert again.status_code == 200
    assert StagedFile.objects.filter(batch=batch).count() == 5
    with capture(execute=True):
        closed = curator_client.post(reverse("curation:batch_close", args=[batch.pk])).json()
    assert closed["url"] == reverse("curation:batch", args=[batch.pk])
    batch.refresh_from_db()
    assert (batch.closed, batch.state, batch.total, batch.processed, batch.accepted) == (True, "done", 5, 5, 5)
    assert Image.objects.count() == 5
    # A closed batch takes no more parts.
    late = post(curator_client, submission, {"file:k-9": SimpleUploadedFile("9.dcm", data[0])}, capture=capture,
                more="1", batch=str(batch.pk))
    assert late.status_code == 409 and "closed" in late.json()["error"]


def test_a_file_over_the_limit_is_refused_while_receiving(curator_client, settings, django_capture_on_commit_callbacks):
    settings.TCIA_MAX_FILE_BYTES = 100_000
    submission = make_submission()
    big = b"\0" * 128 + b"DICM" + b"x" * 400_000
    files = {"files": [SimpleUploadedFile("big.dcm", big), SimpleUploadedFile("good.dcm", sample_bytes())]}
    response = post(curator_client, submission, files, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200
    batch = IntakeBatch.objects.get()
    assert (batch.accepted, batch.rejected) == (1, 1)
    refused = IntakeItem.objects.get(name="big.dcm")
    assert "per-file limit of 100000 bytes" in refused.reason
    kept = QuarantinedFile.objects.get(original_name="big.dcm")
    assert 0 < kept.kept_bytes <= 4096 and not kept.whole  # its first bytes, for the curator; never all of it
    with storages["quarantine"].open(kept.storage_name, "rb") as fh:
        assert fh.read() == big[: kept.kept_bytes]
    assert not StagedFile.objects.filter(name="big.dcm").exists()


def test_files_the_uploader_did_not_send_are_recorded(curator_client, django_capture_on_commit_callbacks):
    submission = make_submission()
    skipped = [{"name": "huge.dcm", "size": 5 * 1024**3, "reason": "file of 5368709120 bytes exceeds the per-file limit"}]
    response = post(curator_client, submission, {"file:a": SimpleUploadedFile("a.dcm", sample_bytes())},
                    capture=django_capture_on_commit_callbacks, skipped=json.dumps(skipped))
    assert response.status_code == 200
    item = IntakeItem.objects.get(name="huge.dcm")
    assert item.outcome == "rejected" and "per-file limit" in item.reason
    assert item.quarantined.size == 5 * 1024**3 and item.quarantined.kept_bytes == 0
    assert IntakeBatch.objects.get().accepted == 1


@pytest.mark.parametrize("fields,status,text", [
    ({"batch": "abc", "more": "1"}, 400, "batch"),
    ({"skipped": "{not json"}, 400, "skipped"),
])
def test_malformed_upload_fields_are_named(curator_client, django_capture_on_commit_callbacks, fields, status, text):
    submission = make_submission()
    response = post(curator_client, submission, {"file:a": SimpleUploadedFile("a.dcm", sample_bytes())},
                    capture=django_capture_on_commit_callbacks, **fields)
    assert response.status_code == status and text in response.json()["error"]
    assert not IntakeBatch.objects.exists()
