"""A DICOM C-STORE receiver (pynetdicom). The called AE title selects the submission; each
association becomes one intake batch."""
import io
import logging
import threading

from django.db import close_old_connections
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification

from ..models import IntakeBatch, Submission
from .intake import Intake, start_batch

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_REFUSED = 0xA700  # out of resources (used here: no submission for this AE title)
STATUS_CANNOT_UNDERSTAND = 0xC000


def _text(value) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")).strip()


class Receiver:
    def __init__(self):
        self._sessions: dict[int, Intake] = {}
        self._lock = threading.Lock()

    def _session(self, assoc) -> Intake | None:
        key = id(assoc)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
        # The title the sender called is in its A-ASSOCIATE request (our own AE title is "TCIA").
        called = _text(assoc.requestor.primitive.called_ae_title)
        calling = _text(assoc.requestor.primitive.calling_ae_title)
        submission = Submission.objects.select_related("collection").filter(ae_title=called).first()
        if submission is None:
            return None
        batch = start_batch(submission=submission, source=IntakeBatch.Source.DICOM, label=f"C-STORE from {calling}")
        intake = Intake(submission, batch)
        with self._lock:
            self._sessions[key] = intake
        return intake

    def handle_store(self, event):
        close_old_connections()
        intake = self._session(event.assoc)
        if intake is None:
            logger.warning("C-STORE refused: no submission for called AE title")
            return STATUS_REFUSED
        buffer = io.BytesIO()
        buffer.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(buffer, event.file_meta, enforce_standard=True)
        buffer.write(event.request.DataSet.getvalue())
        item = intake.take(buffer.getvalue(), f"{event.request.AffectedSOPInstanceUID}.dcm")
        return STATUS_CANNOT_UNDERSTAND if item.outcome == "rejected" else STATUS_SUCCESS

    def handle_release(self, event):
        with self._lock:
            intake = self._sessions.pop(id(event.assoc), None)
        if intake is not None:
            intake.finish()
        close_old_connections()

    def handlers(self):
        return [
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_RELEASED, self.handle_release),
            (evt.EVT_ABORTED, self.handle_release),
        ]


def make_ae() -> AE:
    ae = AE(ae_title="TCIA")
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    # Any called AE title is accepted at association time; C-STORE answers per submission.
    ae.require_called_aet = False
    ae.maximum_pdu_size = 0
    return ae


def start_receiver(host: str = "0.0.0.0", port: int = 11112, block: bool = True):
    receiver = Receiver()
    ae = make_ae()
    return ae.start_server((host, port), block=block, evt_handlers=receiver.handlers())
