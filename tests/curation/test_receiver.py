"""The DICOM C-STORE receiver, exercised by a real pynetdicom client over loopback."""
import socket
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from collections_app.models import Image
from curation.models import IntakeBatch
from curation.services.receiver import Receiver, make_ae

from .intake_helpers import make_submission


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
    assert assoc.is_established
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


@pytest.mark.django_db(transaction=True)
def test_c_store_to_the_submission_ae_title_is_ingested(receiver):
    submission = make_submission(prefix="NET")
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    assert send(receiver, submission.ae_title, ct, mr) == [0, 0]
    batch = IntakeBatch.objects.get()
    for _ in range(50):  # the receiver closes the batch when it sees the release
        if batch.state == "done":
            break
        time.sleep(0.1)
        batch.refresh_from_db()
    assert batch.source == "dicom" and "SITE_SCU" in batch.label
    assert (batch.accepted, batch.rejected) == (2, 0)
    assert batch.state == "done"
    patient_ids = set(Image.objects.values_list("series__subject__patient_id", flat=True))
    assert patient_ids <= {"NET-0001", "NET-0002"} and patient_ids


@pytest.mark.django_db(transaction=True)
def test_c_store_to_an_unknown_ae_title_is_refused(receiver):
    make_submission(prefix="NET")
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    assert send(receiver, "NOBODY", ct) == [0xA700]
    assert not Image.objects.exists()
