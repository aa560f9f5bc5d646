"""The DICOM C-STORE receiver (pynetdicom), as PACS administrators expect one to behave.

* The called AE title selects the submission; an unknown one is refused at association
  (A-ASSOCIATE-RJ, permanent, "called AE title not recognised"), before any data is sent.
* Every transfer syntax the engine can decode is accepted (uncompressed, deflate, RLE, JPEG
  baseline/extended/lossless, JPEG-LS, JPEG 2000 — whatever pydicom's installed decoders take).
* C-STORE is answered once the file is durably received (written and fsynced into the staging
  storage, `staging.save_received`), without waiting for the database: one thread records the
  received files' rows a group at a time (`_Recorder`), and a file whose receiver stopped before
  recording it is recorded by the workers (`staging.recover_unrecorded`). De-identification and
  indexing happen in workers (`curation.services.staging`), so a slow or locked database (SQLite's
  one writer is often a worker's chunk transaction) never holds a sender. One association is one
  batch; files are named by their position ("C-STORE #12"), never by an original UID.
* C-ECHO (Verification) is answered.
"""
import io
import logging
import queue
import socket
import threading
import time

from django.db import close_old_connections, connections
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import Verification

from ..models import IntakeBatch, Submission
from . import staging
from .intake import supported_transfer_syntax

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
PREAMBLE = b"\x00" * 128 + b"DICM"
QUEUE_EVERY = 100  # files recorded between two wake-ups of the workers during an association
IDLE_CLOSE = 2  # seconds without files after which the recorder thread closes its database connection
RELEASE_WAIT = 60  # seconds a release waits for its files' rows before it leaves the batch open
REJECT_PERMANENT, SOURCE_SERVICE_USER, CALLED_AE_NOT_RECOGNISED = 0x01, 0x01, 0x07


def _text(value) -> str:
    return (value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")).strip()


def accepted_transfer_syntaxes() -> list[str]:
    """Every transfer syntax pydicom knows and can decode here, uncompressed ones first."""
    syntaxes = [str(ts) for ts in AllTransferSyntaxes if supported_transfer_syntax(ts)]
    return sorted(syntaxes, key=lambda ts: (ts not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"), ts))


class _Session:
    def __init__(self, submission: Submission, calling: str):
        self.submission = submission
        self.calling = calling
        self.batch: IntakeBatch | None = None
        self.count = 0  # files kept (the last one's position)
        self.recorded = 0  # of those, files whose rows are written
        self.unrecorded = 0  # kept, row not yet written (the recorder's to do)


class _Recorder:
    """One thread that writes the rows of received files, many per transaction
    (staging.record_received), so that handle_store answers once the file is durable and never
    waits for the database: with SQLite a C-STORE's own INSERT waited out each worker's chunk
    transaction (the one writer's lock, held for a chunk), the sender and then the workers
    stalled, and the machine was a third idle (bench/receiver.py). A database that refuses
    writes is retried; a receiver that stops leaves its unrecorded files to
    staging.recover_unrecorded."""

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, session: _Session, position: int, storage_name: str, size: int) -> None:
        with self._cond:
            session.unrecorded += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="receiver-rows", daemon=True)
                self._thread.start()
        self._queue.put((session, position, storage_name, size))

    def wait(self, session: _Session, timeout: float) -> bool:
        """True once every file kept for `session` is recorded (False after `timeout` seconds)."""
        with self._cond:
            return self._cond.wait_for(lambda: session.unrecorded == 0, timeout)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_CLOSE)
            except queue.Empty:
                connections.close_all()  # this thread's connection, while no files come
                first = self._queue.get()
            items = [first]
            while len(items) < staging.RECORD_GROUP:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_session: dict = {}
            for session, *file in items:
                by_session.setdefault(id(session), (session, []))[1].append(tuple(file))
            for session, files in by_session.values():
                self._write(session, files)

    def _write(self, session: _Session, files: list) -> None:
        delay = 0.05
        while True:
            try:
                close_old_connections()
                staging.record_received(session.batch.pk, files)
                break
            except Exception as exc:  # noqa: BLE001 - the files are kept; their rows are tried again
                if self._batch_gone(session):
                    logger.error("batch %s was deleted: %s received files not recorded", session.batch.pk, len(files))
                    self._done(session, len(files))
                    return
                logger.error("received files of batch %s not recorded yet (%s): trying again", session.batch.pk,
                             type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        before, session.recorded = session.recorded, session.recorded + len(files)
        if before == 0 or before // QUEUE_EVERY != session.recorded // QUEUE_EVERY:
            try:
                staging.enqueue(session.batch)  # the workers start (and keep) taking the batch
            except Exception as exc:  # noqa: BLE001 - the next wake-up, release or resume_stalled queues it
                logger.error("batch %s not queued (%s)", session.batch.pk, type(exc).__name__)
        self._done(session, len(files))

    def _done(self, session: _Session, n: int) -> None:
        with self._cond:
            session.unrecorded -= n
            self._cond.notify_all()

    @staticmethod
    def _batch_gone(session: _Session) -> bool:
        """True when the batch was deleted meanwhile (its rows can never be written: the other
        sessions' rows must not wait behind them); False when that cannot be told (the database
        is down: try again)."""
        try:
            return not IntakeBatch.objects.filter(pk=session.batch.pk).exists()
        except Exception:  # noqa: BLE001
            return False


class Receiver:
    def __init__(self):
        self._sessions: dict[int, _Session] = {}
        self._lock = threading.Lock()
        self._recorder = _Recorder()

    def handle_requested(self, event):
        """Refuse an association whose called AE title is no submission's."""
        close_old_connections()
        primitive = event.assoc.requestor.primitive
        called, calling = _text(primitive.called_ae_title), _text(primitive.calling_ae_title)
        submission = Submission.objects.select_related("collection").filter(ae_title=called).first()
        if submission is None:
            logger.warning("association from %s refused: called AE title not recognised", calling[:16])
            event.assoc.acse.send_reject(REJECT_PERMANENT, SOURCE_SERVICE_USER, CALLED_AE_NOT_RECOGNISED)
            event.assoc.kill()  # as pynetdicom's own rejections do: returns once the A-ASSOCIATE-RJ is out
            return
        with self._lock:
            self._sessions[id(event.assoc)] = _Session(submission, calling)
        _acknowledge_at_once(event.assoc)

    def handle_store(self, event):
        close_old_connections()
        with self._lock:
            session = self._sessions.get(id(event.assoc))
        if session is None:  # cannot happen: the association was refused
            return STATUS_OUT_OF_RESOURCES
        meta = io.BytesIO()
        meta.write(PREAMBLE)
        write_file_meta_info(meta, event.file_meta, enforce_standard=True)
        data = b"".join((meta.getbuffer(), event.request.DataSet.getbuffer()))  # one copy of the file
        try:
            if session.batch is None:
                session.batch = staging.open_batch(submission=session.submission, source=IntakeBatch.Source.DICOM,
                                                   label=f"C-STORE from {session.calling}", closed=False)
            storage_name = staging.save_received(session.batch.pk, session.count + 1, data)
        except Exception as exc:  # noqa: BLE001 - the sender is told to try again; nothing was kept
            logger.error("C-STORE not stored (%s)", type(exc).__name__)
            return STATUS_OUT_OF_RESOURCES
        session.count += 1
        self._recorder.put(session, session.count, storage_name, len(data))
        return STATUS_SUCCESS

    def handle_release(self, event):
        with self._lock:
            session = self._sessions.pop(id(event.assoc), None)
        if session is not None and session.batch is not None:
            if self._recorder.wait(session, RELEASE_WAIT):
                staging.close(session.batch)
            else:  # the rows come later; resume_stalled closes the batch once nothing more arrives
                logger.error("batch %s left open: its received files are not all recorded yet", session.batch.pk)
        close_old_connections()

    def handlers(self):
        return [
            (evt.EVT_REQUESTED, self.handle_requested),
            (evt.EVT_C_STORE, self.handle_store),
            (evt.EVT_RELEASED, self.handle_release),
            (evt.EVT_ABORTED, self.handle_release),
        ]


def _acknowledge_at_once(assoc) -> None:
    """Turn off delayed ACKs for the association's socket (Linux's TCP_QUICKACK lasts only until
    the next receive, so it is set again after each). A sender with Nagle's algorithm on — dcmtk's
    storescu as Debian builds it, unless TCP_NODELAY=1 is in its environment — holds the last
    piece of every file until it is acknowledged, and a delayed ACK costs each file 40 ms:
    measured 42 files/s without this, 320 with it, for the same 300 files and a receiver that
    does nothing. Our answers go out at once too (TCP_NODELAY)."""
    if not hasattr(socket, "TCP_QUICKACK"):
        return
    transport = assoc.dul.socket
    raw = getattr(transport, "socket", None)
    if raw is None:
        return
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return
    receive = transport.recv

    def recv(nr_bytes):
        data = receive(nr_bytes)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass
        return data

    transport.recv = recv


def make_ae() -> AE:
    ae = AE(ae_title="TCIA")
    syntaxes = accepted_transfer_syntaxes()
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, syntaxes)
    ae.add_supported_context(Verification)
    # The called AE title selects the submission (checked in handle_requested), so pynetdicom's
    # own check against "TCIA" is off.
    ae.require_called_aet = False
    ae.maximum_pdu_size = 0
    return ae


def start_receiver(host: str = "0.0.0.0", port: int = 11112, block: bool = True):
    receiver = Receiver()
    ae = make_ae()
    return ae.start_server((host, port), block=block, evt_handlers=receiver.handlers())
