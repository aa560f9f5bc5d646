"""Intake's blob writer process (collections_app.services.blobproc): what it writes is what
write_blob writes, its replies keep their order however many files wait, a write that fails says
so, and a writer process that dies loses nothing (the caller writes what it had not)."""
import errno
import hashlib
import os
import signal
import zlib

import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.test import override_settings

from collections_app.services import blobproc
from collections_app.services.storage import BlobWriter, digest_bytes, storage_name_for
from curation.services.intake import Intake, start_batch
from tests.curation.intake_helpers import make_submission, sample_bytes


def _payloads(n, size=100):
    return [hashlib.sha256(str(i).encode()).digest() * (size // 32 + 1) for i in range(n)]


def test_the_process_writes_what_write_blob_would(tmp_path):
    writer = blobproc.ProcessWriter(str(tmp_path))
    try:
        blobs = [b"", b"x", os.urandom(70_000), os.urandom(3 * 1024 * 1024)]  # empty, tiny, > a pipe's 64 KB, > 1 MB
        futures = [writer.submit(data) for data in blobs]
        for data, future in zip(blobs, futures):
            sha, md5, crc, size = future.result()
            want = digest_bytes(data)
            assert (sha, md5, crc, size) == (want.sha256, want.md5, want.crc32, want.size)
            assert (sha, md5, crc, size) == (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(),
                                             zlib.crc32(data) & 0xFFFFFFFF, len(data))
            assert (tmp_path / storage_name_for(sha)).read_bytes() == data
        assert not list(tmp_path.rglob("*.part"))
        again = writer.submit(blobs[2]).result()  # the same bytes again: the same name, one file
        assert again[0] == futures[2].result()[0]
    finally:
        writer.close()
    assert writer.proc is None


def test_replies_keep_their_order_when_many_files_wait(tmp_path, monkeypatch):
    """10,000 files handed over before any reply is read: far more replies than the reply pipe
    (64 KB here) holds, so the writer only goes on because submit() reads replies while it writes."""
    monkeypatch.setattr(blobproc, "PIPE_BYTES", 65536)
    def stuck(*_):
        raise TimeoutError("the writer and its caller wait for each other")

    writer = blobproc.ProcessWriter(str(tmp_path))
    previous = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(60)
    try:
        payloads = _payloads(10_000)
        futures = [writer.submit(p) for p in payloads]
        assert [f.result()[0] for f in futures] == [hashlib.sha256(p).hexdigest() for p in payloads]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        writer.close()


def test_a_write_that_fails_raises_and_names_no_path(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    writer = blobproc.ProcessWriter(str(blocker / "archive"))
    try:
        future = writer.submit(b"some bytes")
        with pytest.raises(OSError) as caught:
            future.result()
        assert caught.value.errno == errno.ENOTDIR
        assert str(tmp_path) not in str(caught.value)
        assert writer.proc.poll() is None  # the writer goes on with the next file
    finally:
        writer.close()


def _archive(backend, **options):
    return override_settings(STORAGES={**settings.STORAGES, "archive": {"BACKEND": backend, "OPTIONS": options}})


@pytest.fixture
def local_archive(tmp_path):
    with _archive("django.core.files.storage.FileSystemStorage", location=str(tmp_path / "archive")):
        yield tmp_path / "archive"


def test_a_writer_process_that_dies_loses_nothing(local_archive):
    """Files handed to a writer killed before it answered are written by the caller when their
    result is asked for; the next writer for the folder is a new process."""
    writer = BlobWriter()
    assert not writer.threaded
    payloads = _payloads(300, size=20_000)
    futures = [writer.submit(p) for p in payloads[:150]]
    process = writer._process.proc
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    futures += [writer.submit(p) for p in payloads[150:]]
    for data, future in zip(payloads, futures):
        digest = future.result()
        assert digest == digest_bytes(data)
        assert (local_archive / storage_name_for(digest.sha256)).read_bytes() == data
    assert BlobWriter()._process.proc.pid != process.pid


def test_a_bucket_or_the_setting_off_is_written_by_a_thread(local_archive):
    with override_settings(TCIA_BLOB_PROCESS=False):
        assert BlobWriter().threaded
    with _archive("storages.backends.s3.S3Storage", bucket_name="archive", endpoint_url="http://127.0.0.1:9"):
        assert not isinstance(storages["archive"], FileSystemStorage)
        assert BlobWriter().threaded


def test_intake_with_its_writer_process_killed_mid_batch_stores_every_file(curator, local_archive):
    """A chunk whose writer process dies halfway: every file accepted once, every blob in the
    archive with the bytes its StoredFile row's sha256 names."""
    from collections_app.models import Image

    submission = make_submission()
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    files = [(sample_bytes(SOPInstanceUID=f"1.2.826.0.1.3680043.2.1125.7.{n}"), f"{n}.dcm", None) for n in range(40)]
    assert not intake._writer().threaded
    real_prepare = intake._prepare_or_record
    seen = []

    def prepare_then_kill(*args):
        prepared = real_prepare(*args)
        seen.append(prepared)
        if len(seen) == 20:
            intake._writer()._process.proc.kill()
            intake._writer()._process.proc.wait()
        return prepared

    intake._prepare_or_record = prepare_then_kill
    items = intake.take_many(files)
    intake.finish()
    assert [i.outcome for i in items] == ["accepted"] * 40
    images = Image.objects.filter(collection=submission.collection).select_related("stored_file")
    assert images.count() == 40
    for image in images:
        data = (local_archive / image.stored_file.storage_name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image.stored_file.sha256
        assert hashlib.md5(data).hexdigest() == image.stored_file.md5


@pytest.mark.parametrize("process", [True, False], ids=["writer-process", "writer-thread"])
def test_an_archive_that_cannot_be_written_fails_the_files_and_keeps_their_originals(curator, tmp_path, process):
    """Every blob write failing (the archive folder is a file): each file of the chunk is a failed
    item whose original is kept for a retry, and the batch ends normally."""
    from curation.models import IntakeItem

    blocker = tmp_path / "archive"
    blocker.write_bytes(b"")
    with _archive("django.core.files.storage.FileSystemStorage", location=str(blocker / "inside")), \
            override_settings(TCIA_BLOB_PROCESS=process):
        submission = make_submission()
        batch = start_batch(submission=submission, source="cli")
        intake = Intake(submission, batch)
        assert intake._writer().threaded is not process
        files = [(sample_bytes(SOPInstanceUID=f"1.2.826.0.1.3680043.2.1125.8.{n}"), f"{n}.dcm", None) for n in range(3)]
        items = intake.take_many(files)
        batch = intake.finish()
    assert [i.outcome for i in items] == [IntakeItem.Outcome.FAILED] * 3
    assert all(i.quarantined.kept_bytes == i.quarantined.size > 0 for i in items)
    assert (batch.failed, batch.state) == (3, "done")
