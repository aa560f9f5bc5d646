"""Reading and writing stored files the same way on a local folder and on an S3 bucket.

Everything that touches archive, quarantine or derived bytes goes through Django's storage API;
these helpers add what that API lacks, each with a local-folder branch (direct file opens, no
extra system calls) and an object-storage branch (tcia/core/s3storage.py):

* `local_path(storage, name)`: the file's path on a folder, None on a bucket;
* `open_stream(storage, name, size=, start=, end=)`: bytes [start, end) as a file, streamed;
* `read_bytes(storage, name, start, length)`: one bounded read (a DICOM frame);
* `sizes(storage, names)`: every object's size or None, concurrently on a bucket;
* `save_once(storage, name, data)`: a content-addressed write that never leaves two copies;
* `redirect_url(storage, name, …)`: a presigned GET URL when downloads are redirected to the
  bucket (`TCIA_S3_REDIRECT_DOWNLOADS=1`), else None.
"""
import io
import os

from django.conf import settings
from django.core.files.base import File


def local_path(storage, name: str) -> str | None:
    try:
        return storage.path(name)
    except NotImplementedError:
        return None


def is_local(storage) -> bool:
    return local_path(storage, "probe") is not None


def open_stream(storage, name: str, *, size: int | None = None, start: int = 0, end: int | None = None):
    """A binary file positioned at `start` that reads no further than `end` (exclusive) needs."""
    stream = getattr(storage, "open_stream", None)
    if stream is not None:
        return stream(name, size=size, start=start, end=end)
    path = local_path(storage, name)
    fh = open(path, "rb", buffering=0) if path is not None else storage.open(name, "rb")  # noqa: SIM115
    if start:
        fh.seek(start)
    return fh


def opener(storage, name: str, size: int | None = None):
    """A callable that opens `name` for one sequential read (zip and tar members)."""
    path = local_path(storage, name)
    if path is not None:
        return lambda: open(path, "rb", buffering=0)
    return lambda: open_stream(storage, name, size=size)


def read_bytes(storage, name: str, start: int, length: int) -> bytes:
    with open_stream(storage, name, start=start, end=start + length) as fh:
        out = bytearray()
        while len(out) < length:
            data = fh.read(length - len(out))
            if not data:
                break
            out += data
    return bytes(out)


def sizes(storage, names: list[str]) -> list[int | None]:
    """The size of each stored file, None for one that is missing."""
    many = getattr(storage, "sizes", None)
    if many is not None:
        return many(names)
    out = []
    for name in names:
        path = local_path(storage, name)
        try:
            out.append(os.stat(path).st_size if path is not None else storage.size(name))
        except (FileNotFoundError, OSError):
            out.append(None)
    return out


def save_once(storage, name: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
    """Store `data` under `name` (a content address: the same name is the same bytes) unless it is
    there. True when this call wrote it. Concurrent writers leave one copy: on a bucket by a
    conditional PUT, on a folder by deleting the copy Django renamed."""
    once = getattr(storage, "save_once", None)
    if once is not None:
        return once(name, data, content_type=content_type)
    if storage.exists(name):
        return False
    saved = storage.save(name, File(io.BytesIO(data), name=name))
    if saved != name:  # a concurrent writer got there first; keep one copy
        storage.delete(saved)
        return False
    return True


def redirect_url(storage, name: str, *, filename: str = "", content_type: str = "") -> str | None:
    """A presigned URL to send the client to instead of streaming, when that is configured."""
    presign = getattr(storage, "presigned_url", None)
    if presign is None or not getattr(settings, "TCIA_S3_REDIRECT_DOWNLOADS", False):
        return None
    return presign(name, filename=filename, content_type=content_type)


def redirect_response(storage, name: str, *, filename: str = "", content_type: str = ""):
    """A 302 to the presigned URL (see redirect_url), or None to stream through the portal."""
    url = redirect_url(storage, name, filename=filename, content_type=content_type)
    if url is None:
        return None
    from django.http import HttpResponseRedirect

    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"  # the URL expires; never cache the redirect
    return response


READ_AHEAD_FILES = 4  # below botocore's pool of 10 connections per client


def openers(storage, files: list[tuple[str, int | None]], *, ahead: int | None = None) -> list:
    """Openers for files read one after another (the members of a zip). On a bucket, opening
    file i also sends the GETs of the next `ahead` files from a small thread pool, so the
    bucket's time to first byte is paid once per `ahead` files instead of once per file; their
    bodies wait unread on their connections (memory stays constant). On a folder: plain opens."""
    ahead = READ_AHEAD_FILES if ahead is None else ahead
    if getattr(storage, "open_stream", None) is None or ahead <= 0 or len(files) <= 1:
        return [opener(storage, name, size) for name, size in files]
    return _ReadAhead(storage, files, ahead).openers()


class _ReadAhead:
    def __init__(self, storage, files, ahead):
        self.storage, self.files, self.ahead = storage, files, ahead
        self.pending: dict[int, object] = {}
        self.pool = None

    def _submit(self, i: int) -> None:
        if i < len(self.files) and i not in self.pending:
            from concurrent.futures import ThreadPoolExecutor

            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.ahead, thread_name_prefix="s3-read-ahead")
            name, size = self.files[i]
            self.pending[i] = self.pool.submit(self.storage.open_stream(name, size=size).start)

    def open(self, i: int):
        for j in range(i, i + self.ahead + 1):
            self._submit(j)
        for j in [j for j in self.pending if j < i]:  # skipped (never read): let their connections go
            self.pending.pop(j).add_done_callback(lambda f: f.exception() is None and f.result().close())
        f = self.pending.pop(i).result()
        if i == len(self.files) - 1 and self.pool is not None:
            self.pool.shutdown(wait=False)
        return f

    def openers(self):
        return [lambda i=i: self.open(i) for i in range(len(self.files))]
