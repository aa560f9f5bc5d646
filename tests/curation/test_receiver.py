"""The DICOM C-STORE receiver, exercised by real senders over loopback: pynetdicom in-process and
as its storescu app, and dcmtk's storescu, dcmsend and echoscu (Debian dcmtk) as subprocesses."""
import shutil
import socket
import subprocess
import sys
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from collections_app.models import Image
from curation.models import IntakeBatch, IntakeItem
from curation.services.receiver import Receiver, make_ae

from .intake_helpers import make_submission

needs_dcmtk = pytest.mark.skipif(not shutil.which("dcmsend"), reason="dcmtk (Debian package dcmtk) is not installed")
COMPRESSED = ["MR_small_jp2klossless.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_jpeg_dcmtk.dcm",
              "JPEG2000.dcm", "JPGExtended.dcm"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    port = free_port()
    server = make_ae().start_server(("127.0.0.1", port), block=False, evt_handlers=Receiver().handlers())
    yield port
    server.shutdown()


def send(port, called_aet, *datasets):
    ae = AE(ae_title="SITE_SCU")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title=called_aet)
    if not assoc.is_established:
        return assoc
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


def done_batches(expected=1, timeout=30):
    """Batches are closed when the sender releases; processing finishes a moment later."""
    for _ in range(timeout * 10):
        batches = list(IntakeBatch.objects.order_by("pk"))
        if len(batches) >= expected and all(b.state == "done" for b in batches):
            return batches
        time.sleep(0.1)
    raise AssertionError(f"batches not done: {[(b.pk, b.state, b.processed, b.total) for b in IntakeBatch.objects.all()]}")


def sample(name):
    return get_testdata_file(name, download=False)


@pytest.mark.django_db(transaction=True)
def test_c_store_to_the_submission_ae_title_is_ingested(receiver):
    submission = make_submission(prefix="NET")
    ct = pydicom.dcmread(sample("CT_small.dcm"))
    mr = pydicom.dcmread(sample("MR_small.dcm"))
    assert send(receiver, submission.ae_title, ct, mr) == [0, 0]
    [batch] = done_batches()
    assert batch.source == "dicom" and "SITE_SCU" in batch.label
    assert (batch.total, batch.processed, batch.accepted, batch.rejected) == (2, 2, 2, 0)
    patient_ids = set(Image.objects.values_list("series__subject__patient_id", flat=True))
    assert patient_ids <= {"NET-0001", "NET-0002"} and patient_ids
    # Files are named by their position, never by an original UID.
    names = list(batch.items.order_by("pk").values_list("name", flat=True))
    assert names == ["C-STORE #1", "C-STORE #2"]
    assert str(ct.SOPInstanceUID) not in "".join(names)


@pytest.mark.django_db(transaction=True)
def test_an_unknown_called_ae_title_is_rejected_at_association(receiver):
    make_submission(prefix="NET")
    assoc = send(receiver, "NOBODY", pydicom.dcmread(sample("CT_small.dcm")))
    assert assoc.is_rejected and not assoc.is_established
    rejection = assoc.acceptor.primitive
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x01, 0x01, 0x07)
    assert not Image.objects.exists() and not IntakeBatch.objects.exists()


@needs_dcmtk
@pytest.mark.django_db(transaction=True)
def test_dcmtk_echoscu_and_an_unknown_ae_title(receiver):
    submission = make_submission(prefix="NET")
    echo = subprocess.run(["echoscu", "-aec", submission.ae_title, "127.0.0.1", str(receiver)], capture_output=True,
                          text=True, timeout=30)
    assert echo.returncode == 0, echo.stderr
    refused = subprocess.run(["echoscu", "-aec", "NOBODY", "127.0.0.1", str(receiver)], capture_output=True, text=True,
                             timeout=30)
    assert refused.returncode != 0
    assert "Called AE Title Not Recognized" in refused.stdout + refused.stderr


@needs_dcmtk
@pytest.mark.django_db(transaction=True)
def test_dcmsend_compressed_files_are_accepted_in_their_own_syntax(receiver, tmp_path):
    submission = make_submission(prefix="NET")
    files, syntaxes = [], {}
    for n, name in enumerate(COMPRESSED):
        # Three of the samples are one MR instance in three syntaxes: give each its own UID, so
        # each is a new image (the pixel data stays as it is, compressed).
        ds = pydicom.dcmread(sample(name))
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.543.{n + 1}"
        target = tmp_path / name
        ds.save_as(target)
        files.append(str(target))
        syntaxes[str(ds.SOPClassUID), ds.Rows, ds.Columns, str(ds.file_meta.TransferSyntaxUID)] = name
    result = subprocess.run(["dcmsend", "-dn", "-aet", "DCMTK_SCU", "-aec", submission.ae_title, "127.0.0.1",
                             str(receiver), *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    [batch] = done_batches()
    assert (batch.total, batch.accepted, batch.rejected) == (len(COMPRESSED), len(COMPRESSED), 0), \
        list(batch.items.values_list("name", "reason"))
    stored = {(i.sop_class_uid, i.rows, i.columns, i.transfer_syntax_uid) for i in Image.objects.all()}
    assert stored == set(syntaxes), "each file kept its compressed transfer syntax (nothing was refused or converted)"


@needs_dcmtk
@pytest.mark.django_db(transaction=True)
def test_the_same_instance_from_pynetdicom_implicit_and_dcmtk_explicit_is_one_image(receiver, tmp_path):
    submission = make_submission(prefix="NET")
    path = tmp_path / "ct.dcm"
    shutil.copy(sample("CT_small.dcm"), path)
    implicit = subprocess.run([sys.executable, "-m", "pynetdicom", "storescu", "-xi", "-aet", "PYNET", "-aec",
                               submission.ae_title, "127.0.0.1", str(receiver), str(path)],
                              capture_output=True, text=True, timeout=60)
    assert implicit.returncode == 0, implicit.stderr
    done_batches(1)
    explicit = subprocess.run(["storescu", "-xe", "-aet", "DCMTK", "-aec", submission.ae_title, "127.0.0.1", str(receiver),
                               str(path)], capture_output=True, text=True, timeout=60)
    assert explicit.returncode == 0, explicit.stderr
    first, second = done_batches(2)
    assert Image.objects.count() == 1
    image = Image.objects.get()
    assert image.transfer_syntax_uid == "1.2.840.10008.1.2"  # the first arrival, Implicit VR, is what is kept
    later = IntakeItem.objects.get(batch=second)
    assert later.outcome == "unchanged" and "another encoding" in later.reason and later.image == image


@pytest.mark.django_db(transaction=True)
def test_batch_total_counts_every_staged_file_without_a_statement_per_file(receiver, monkeypatch):
    """The receiver records the received files' rows a group at a time, with the batch's total,
    and wakes the workers as the count crosses QUEUE_EVERY and at release: once the sender has
    released, every file has its row and the total is exact."""
    from curation.services import receiver as receiver_mod
    from curation.services import staging

    seen = []
    monkeypatch.setattr(receiver_mod, "QUEUE_EVERY", 2)
    monkeypatch.setattr(staging, "enqueue", lambda batch: seen.append(IntakeBatch.objects.get(pk=batch.pk).total))
    submission = make_submission(prefix="CNT")
    datasets = []
    for i in range(5):
        ds = pydicom.dcmread(sample("CT_small.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        datasets.append(ds)
    assert send(receiver, submission.ae_title, *datasets) == [0] * 5
    for _ in range(100):
        batch = IntakeBatch.objects.get()
        if batch.closed:
            break
        time.sleep(0.05)
    batch = IntakeBatch.objects.get()
    assert batch.closed and batch.processed == 0  # nothing processed: only staged
    assert list(batch.staged_files.order_by("position").values_list("position", "name")) == [
        (n, f"C-STORE #{n}") for n in range(1, 6)]
    assert batch.total == 5
    assert seen and seen == sorted(seen) and seen[-1] == 5 and 1 < len(seen) <= 4  # a few wake-ups, the last at release


def _hold_write_lock():
    """Another connection that keeps the staged-file table from being written until closed:
    SQLite's one writer lock (BEGIN IMMEDIATE), or a PostgreSQL table lock."""
    from django.db import connection

    from curation.models import StagedFile

    if connection.vendor == "sqlite":
        import sqlite3

        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        return other
    import psycopg

    s = connection.settings_dict
    other = psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"], host=s["HOST"] or None,
                            port=s["PORT"] or None)
    other.execute(f"LOCK TABLE {StagedFile._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    return other


@pytest.mark.django_db(transaction=True)
def test_c_store_is_answered_while_the_database_is_locked(receiver, monkeypatch):
    """A C-STORE is answered once its file is durable, without waiting for the database: with the
    staged-file table locked by another writer every file is answered with success (not after the
    lock, nor with an error), and its row is written once the lock goes."""
    from curation.models import StagedFile

    monkeypatch.setenv("TCIA_SQLITE_TIMEOUT", "60")
    submission = make_submission(prefix="LCK")
    ae = AE(ae_title="SITE_SCU")
    ae.add_requested_context(CTImageStorage)
    ae.dimse_timeout = 5  # an answer held back by the lock would fail the send, not hang the test
    assoc = ae.associate("127.0.0.1", receiver, ae_title=submission.ae_title)
    assert assoc.is_established
    datasets = []
    for i in range(4):
        ds = pydicom.dcmread(sample("CT_small.dcm"))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i + 1}"
        datasets.append(ds)
    assert assoc.send_c_store(datasets[0]).Status == 0  # the batch exists (its row is written at the first file)
    for _ in range(100):
        if StagedFile.objects.count() == 1:
            break
        time.sleep(0.05)
    other = _hold_write_lock()
    try:
        statuses = [getattr(assoc.send_c_store(ds), "Status", None) for ds in datasets[1:]]
        assert statuses == [0, 0, 0]
        assert StagedFile.objects.count() == 1  # the rows wait for the lock; the files are kept
    finally:
        other.rollback() if hasattr(other, "rollback") else None
        other.close()
    assoc.release()
    [batch] = done_batches()
    assert (batch.total, batch.processed, batch.accepted) == (4, 4, 4)


@pytest.mark.django_db(transaction=True)
def test_a_received_file_its_receiver_did_not_record_is_recorded_by_the_workers(monkeypatch):
    """A receiver killed between keeping a file and writing its row (the C-STORE was answered):
    resume_stalled, which every worker runs at start and each minute, finds the file by its name
    and records it at its position, once it is older than RECOVER_AFTER; the batch is then taken
    like any other and the file is ingested once."""
    from curation.models import StagedFile
    from curation.services import staging

    submission = make_submission(prefix="REC")
    batch = staging.open_batch(submission=submission, source=IntakeBatch.Source.DICOM, label="C-STORE from X")
    data = open(sample("CT_small.dcm"), "rb").read()
    kept = staging.save_received(batch.pk, 1, data)
    staging.record_received(batch.pk, [(1, kept, len(data))])
    lost = staging.save_received(batch.pk, 2, open(sample("MR_small.dcm"), "rb").read())  # answered, never recorded
    assert staging.recover_unrecorded() == 0  # too young: its receiver may still be writing its row
    monkeypatch.setattr(staging, "RECOVER_AFTER", 0)  # as if RECOVER_AFTER seconds had passed
    staging.resume_stalled()
    rows = list(StagedFile.objects.filter(batch=batch).order_by("position").values_list("position", "storage_name", "name"))
    assert rows[1] == (2, lost, "C-STORE #2") and len(rows) == 2
    assert IntakeBatch.objects.get(pk=batch.pk).total == 2
    assert staging.recover_unrecorded(min_age=0) == 0  # recorded once
    IntakeBatch.objects.filter(pk=batch.pk).update(closed=True)
    staging.process_batch(batch.pk)
    batch.refresh_from_db()
    assert (batch.state, batch.processed, batch.accepted) == ("done", 2, 2)


@pytest.mark.django_db(transaction=True)
def test_a_deleted_batch_does_not_hold_back_the_rows_of_other_associations():
    """The recorder writes every association's rows on one thread: rows that can never be
    written (their batch was deleted) are given up, and the next association's are written."""
    from curation.models import StagedFile
    from curation.services import staging
    from curation.services.receiver import _Recorder, _Session

    submission = make_submission(prefix="DEL")
    recorder = _Recorder()
    gone, live = _Session(submission, "A"), _Session(submission, "B")
    gone.batch = staging.open_batch(submission=submission, source=IntakeBatch.Source.DICOM, label="gone")
    live.batch = staging.open_batch(submission=submission, source=IntakeBatch.Source.DICOM, label="live")
    data = open(sample("CT_small.dcm"), "rb").read()
    name = staging.save_received(gone.batch.pk, 1, data)
    IntakeBatch.objects.filter(pk=gone.batch.pk).delete()
    recorder.put(gone, 1, name, len(data))
    recorder.put(live, 1, staging.save_received(live.batch.pk, 1, data), len(data))
    assert recorder.wait(gone, 10) and recorder.wait(live, 10)
    assert list(StagedFile.objects.values_list("batch_id", "position")) == [(live.batch.pk, 1)]
