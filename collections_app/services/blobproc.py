"""A blob writer in its own process, for intake into a local archive folder.

Intake hands each clean file to a writer that hashes it (sha256, md5, crc32) and writes it
under its sha256 while the intake thread de-identifies the next file. In a thread of the intake
process that work is GIL-free C calls, but between them the writer waits for the GIL, which the
busy intake thread gives up only every switch interval: about ten waits per file left the
writer behind and both threads paying for the hand-overs (bench/ingest.py, PostgreSQL: 190-200
files/s with the thread, 228-235 with no writer at all). A process of its own has no GIL to
share: intake copies the bytes into a pipe and reads back one line per file.

This file is also the child program (`python blobproc.py ROOT`), so it imports only the
standard library: no Django, no settings, no database. The protocol on the child's stdin is a
frame per file (8-byte little-endian length, then the bytes; length 2^64-1 ends the child); on its
stdout one line per frame, in order: `sha256 md5 crc32 size` or `! errno message` for a write
that failed (no path or content in the message: names are hashes). Writes are what
storage.write_blob does on a folder: a temporary file renamed into place, skipped when the name
exists (the same name is the same bytes).
"""
import atexit
import hashlib
import os
import select
import struct
import subprocess
import sys
import threading
import zlib
from collections import deque

HEADER = struct.Struct("<Q")
END = (1 << 64) - 1  # the frame length that ends the child
PIPE_BYTES = 1 << 20  # the kernel's default ceiling for an unprivileged pipe (fs.pipe-max-size)
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux); fcntl only names it from Python 3.10 on some builds


class WriterStopped(OSError):
    """The writer process is gone; the file is written by the caller instead."""


def storage_name_for(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


# ── the child ─────────────────────────────────────────────────────────────────────────────

def _read_exactly(stream, n: int):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return None
        got += k
    return buf


def digests(data) -> tuple[str, str, int, int]:
    """(sha256, md5, crc32, size) of the bytes: what a StoredFile row records (storage.digest_bytes)."""
    return (hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest(),
            zlib.crc32(data) & 0xFFFFFFFF, len(data))


def put_file(path: str, data, made: set | None = None) -> None:
    """The bytes at `path` unless a file is there (the same name is the same bytes): a temporary
    file renamed into place, so no reader sees half a file. `made`: folders known to exist."""
    if os.path.exists(path):
        return
    folder = os.path.dirname(path)
    if made is None or folder not in made:
        os.makedirs(folder, exist_ok=True)
        if made is not None:
            made.add(folder)
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)  # a concurrent writer's copy is as good


def _write_one(root: str, data, made: set) -> str:
    sha, md5, crc, size = digests(data)
    put_file(os.path.join(root, storage_name_for(sha)), data, made)
    return f"{sha} {md5} {crc} {size}\n"


def child_main(root: str) -> int:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    made: set = set()
    while True:
        head = _read_exactly(inp, HEADER.size)
        if head is None:
            return 0
        (size,) = HEADER.unpack(head)
        if size == END:
            return 0
        data = _read_exactly(inp, size)
        if data is None:
            return 0
        try:
            line = _write_one(root, data, made)
        except OSError as exc:
            line = f"! {exc.errno or 0} {type(exc).__name__}: {exc.strerror or 'write failed'}\n"
        del data
        out.write(line.encode())
        out.flush()


# ── the parent ────────────────────────────────────────────────────────────────────────────

class BlobFuture:
    """What ThreadPoolExecutor.submit would return, for one file: result() is the reply's
    (sha256, md5, crc32, size), read from the child when it is asked for."""

    __slots__ = ("_writer", "data", "_value", "_error", "_done")

    def __init__(self, writer, data):
        self._writer, self.data = writer, data
        self._value = self._error = None
        self._done = False

    def _set(self, value=None, error=None):
        self._value, self._error, self._done = value, error, True
        if error is None:
            self.data = None  # written: the future no longer keeps the bytes alive

    def result(self):
        if not self._done:
            self._writer._wait(self)
        if self._error is not None:
            raise self._error
        return self._value


class ProcessWriter:
    """One child process writing into the folder `root`. submit() never blocks on the child for
    longer than the pipe takes the bytes; replies are read as they come (so neither pipe fills
    and stops the other) and at result(). Safe to share between threads (one lock)."""

    def __init__(self, root: str):
        self._lock = threading.Lock()
        self._pending: deque = deque()
        self._buf = b""
        self.broken = False
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0, close_fds=True)
        self._in, self._out = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        try:
            import fcntl

            fcntl.fcntl(self._in, F_SETPIPE_SZ, PIPE_BYTES)
            fcntl.fcntl(self._out, F_SETPIPE_SZ, PIPE_BYTES)
        except OSError:
            pass  # a smaller pipe only means more round trips
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)

    def submit(self, data) -> BlobFuture:
        future = BlobFuture(self, data)
        with self._lock:
            if self.broken:
                future._set(error=WriterStopped("the blob writer process stopped"))
                return future
            self._pending.append(future)
            try:
                self._send(data)
            except OSError:
                self._stop()
        return future

    def _send(self, data):
        """Write one frame, reading replies whenever the child has some."""
        for part in (memoryview(HEADER.pack(len(data))), memoryview(data)):
            while part:
                readable, writable, _ = select.select([self._out], [self._in], [])
                if readable:
                    self._drain()
                if writable:
                    try:
                        n = os.write(self._in, part)
                    except BlockingIOError:
                        continue
                    part = part[n:]

    def _drain(self, block: bool = False):
        if block:
            select.select([self._out], [], [])
        try:
            chunk = os.read(self._out, 65536)
        except BlockingIOError:
            return
        if not chunk:
            raise BrokenPipeError("the blob writer process ended")
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            future = self._pending.popleft()
            if line.startswith(b"!"):
                _mark, errno, message = line.decode().split(" ", 2)
                future._set(error=OSError(int(errno), message))
            else:
                sha, md5, crc, size = line.decode().split()
                future._set((sha, md5, int(crc), int(size)))

    def _wait(self, future):
        with self._lock:
            try:
                while not future._done and not self.broken:
                    self._drain(block=True)
            except OSError:
                self._stop()
            if not future._done:
                future._set(error=WriterStopped("the blob writer process stopped"))

    def _stop(self):
        """The child is gone or the pipe broke: every file still waiting fails over to the caller."""
        self.broken = True
        while self._pending:
            self._pending.popleft()._set(error=WriterStopped("the blob writer process stopped"))
        self.close()

    def retire(self):
        """Close once nothing is in flight's hands: files still waiting fail over to the caller."""
        with self._lock:
            self.broken = True
            self.close()

    def close(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.set_blocking(self._in, True)
            os.write(self._in, HEADER.pack(END))
        except OSError:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_WRITERS: dict = {}
_WRITERS_LOCK = threading.Lock()
KEEP = 2  # writers kept for folders used lately (a process has one archive; tests have many)


def writer_for(root: str) -> ProcessWriter | None:
    """The process-wide writer for a folder (started on first use, one per process: a forked
    worker starts its own), or None where there is no Python interpreter to start it with."""
    if os.name != "posix" or "python" not in os.path.basename(sys.executable or "").lower():
        return None  # no pipes to select on, or embedded in a server binary that is not Python
    key = (os.getpid(), root)
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(key, None)
        if writer is None or writer.broken:
            writer = ProcessWriter(root)
        _WRITERS[key] = writer  # last: the most recently used
        for old in [k for k in _WRITERS if k[0] == key[0]][:-KEEP]:
            _WRITERS.pop(old).retire()
        return writer


def cpu_seconds() -> float:
    """CPU seconds used so far by this process's live writer processes (Linux /proc; 0 elsewhere):
    what a benchmark adds to the intake process's own."""
    total = 0.0
    for (owner, _root), writer in list(_WRITERS.items()):
        proc = writer.proc
        if owner != os.getpid() or proc is None:
            continue
        try:
            fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@atexit.register
def _close_all():
    pid = os.getpid()
    for (owner, _root), writer in list(_WRITERS.items()):
        if owner == pid:
            writer.close()


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))
