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
    """The receiver stages each file with one INSERT and raises the batch's total every
    QUEUE_EVERY files and at release: the total is exact once the sender releases."""
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
        if len(seen) == 4:
            break
        time.sleep(0.05)
    batch = IntakeBatch.objects.get()
    assert batch.staged_files.count() == 5 and batch.processed == 0  # nothing processed: only staged
    assert seen == [1, 3, 5, 5]  # at files 1, 3 and 5, then at release
    assert batch.total == 5
