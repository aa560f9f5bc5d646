"""Bad input costs little: a file over the limit is never read into memory, a zip bomb's members
are never written out, quarantine keeps whole originals only when they are plausible DICOM, and
`ingest` never follows a symbolic link out of the folder it was given."""
import hashlib
import io
import os
import tracemalloc
import zipfile

import pytest
from django.core.files.storage import FileSystemStorage, storages
from django.core.management import call_command

from curation.models import IntakeBatch, IntakeItem, QuarantinedFile
from curation.services import staging
from curation.services.intake import Intake, start_batch

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db


def quarantine_bytes() -> int:
    storage = storages["quarantine"]
    return sum(q.kept_bytes for q in QuarantinedFile.objects.all() if q.storage_name and storage.exists(q.storage_name))


def test_a_staged_file_over_the_limit_is_refused_without_reading_it(settings, django_capture_on_commit_callbacks):
    settings.TCIA_MAX_FILE_BYTES = 1024 * 1024
    submission = make_submission()
    batch = staging.open_batch(submission=submission, source="upload")
    big = os.urandom(1024) * (30 * 1024)  # 30 MiB
    staging.stage(batch, name="big.dcm", fileobj=io.BytesIO(big))
    digest = hashlib.sha256(big).hexdigest()
    del big
    tracemalloc.start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            staging.close(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    item = IntakeItem.objects.get()
    assert item.outcome == "rejected" and "exceeds the per-file limit" in item.reason
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: the file was read whole"
    q = item.quarantined
    assert q.size == 30 * 1024 * 1024 and q.kept_bytes <= 4096
    with storages["quarantine"].open(f"{q.storage_name}", "rb") as fh:
        assert len(fh.read()) == q.kept_bytes
    assert q.sha256 == digest  # hashed as it was read, in chunks


def test_a_zip_bomb_writes_none_of_its_members(django_capture_on_commit_callbacks):
    submission = make_submission()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(300):
            zf.writestr(f"zeros/{i:03d}.bin", b"\0" * (1024 * 1024))
        zf.writestr("ok/good.dcm", sample_bytes())
    assert len(buffer.getvalue()) < 500_000  # 300 MB of zeros in a few hundred KB
    batch = staging.open_batch(submission=submission, source="upload")
    staging.stage(batch, name="bomb.zip", data=buffer.getvalue())
    with django_capture_on_commit_callbacks(execute=True):
        staging.close(batch)
    batch.refresh_from_db()
    assert (batch.total, batch.accepted, batch.rejected) == (301, 1, 300)
    reasons = set(IntakeItem.objects.filter(outcome="rejected").values_list("reason", flat=True))
    assert all("zip bomb" in r for r in reasons), reasons
    assert quarantine_bytes() == 0


def test_quarantine_keeps_a_whole_original_only_for_plausible_dicom():
    submission = make_submission()
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    text = b"not an image " * 1000  # 13 KB of text
    cut = sample_bytes()[:-5000]  # DICOM, truncated in its pixel data
    intake.take(text, "notes.txt")
    intake.take(cut, "cut.dcm")
    notes = QuarantinedFile.objects.get(original_name="notes.txt")
    dicom = QuarantinedFile.objects.get(original_name="cut.dcm")
    assert (notes.size, notes.kept_bytes, notes.whole) == (len(text), 4096, False)
    assert notes.sha256 == hashlib.sha256(text).hexdigest()
    assert (dicom.size, dicom.kept_bytes, dicom.whole) == (len(cut), len(cut), True)


def test_ingest_does_not_follow_links_out_of_its_folder(tmp_path):
    submission = make_submission()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"a file from somewhere else")
    (outside / "elsewhere.dcm").write_bytes(sample_bytes("MR_small.dcm"))
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "ct.dcm").write_bytes(sample_bytes())
    (root / "link-out.txt").symlink_to(outside / "secret.txt")
    (root / "dir-out").symlink_to(outside, target_is_directory=True)
    (root / "link-in.dcm").symlink_to(root / "a" / "ct.dcm")
    out = io.StringIO()
    call_command("ingest", str(root), collection=submission.collection.slug, no_progress=True, stdout=out)
    batch = IntakeBatch.objects.get()
    outcomes = {i.name: (i.outcome, i.reason) for i in batch.items.all()}
    assert sorted([outcomes["a/ct.dcm"][0], outcomes["link-in.dcm"][0]]) == ["accepted", "unchanged"]  # a link inside is read
    assert "outside the ingested folder: not followed" in outcomes["link-out.txt"][1]
    assert "outside the ingested folder: not followed" in outcomes["dir-out"][1]
    assert not any("elsewhere" in name or "secret" in name for name in outcomes)
    assert quarantine_bytes() == 0  # nothing from outside was read, let alone kept


@pytest.mark.parametrize("process", [True, False], ids=["writer-process", "writer-thread"])
def test_a_chunk_changes_the_interpreter_only_while_it_is_taken(settings, process):
    """take_many pauses the cyclic collector for the chunk's length only, and, when a thread of
    this process writes the blobs, shortens the thread switch interval (a writer process needs no
    GIL from us: the interval stays); both are as they were afterwards, also when the chunk fails."""
    import gc
    import sys

    from curation import hooks

    settings.TCIA_BLOB_PROCESS = process
    seen = []

    def spy(**kwargs):
        seen.append((gc.isenabled(), sys.getswitchinterval()))

    before = (gc.isenabled(), sys.getswitchinterval())
    submission = make_submission()
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    hooks.register_ingest_hook(spy)
    try:
        items = intake.take_many([(sample_bytes(SOPInstanceUID="1.2.3.99.1"), "a.dcm", None)])
    finally:
        hooks.unregister_ingest_hook(spy)
    assert [i.outcome for i in items] == ["accepted"]
    assert intake._writer().threaded is (not process or not isinstance(storages["archive"], FileSystemStorage))
    assert seen and seen[0][0] is False
    if intake._writer().threaded:
        assert seen[0][1] <= 0.0002 + 1e-9
    else:
        assert seen[0][1] == before[1]
    assert (gc.isenabled(), sys.getswitchinterval()) == before
    with pytest.raises(ValueError):
        intake.take_many([("not a tuple of three",)])
    assert (gc.isenabled(), sys.getswitchinterval()) == before
