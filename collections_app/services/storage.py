"""Writing immutable, content-addressed files into the archive storage."""
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from tcia.core import objectstore

from ..models import StoredFile
from . import blobproc

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    sha256: str
    md5: str
    crc32: int
    size: int


def digest_bytes(data: bytes) -> Digest:
    return Digest(*blobproc.digests(data))


storage_name_for = blobproc.storage_name_for  # "ab/cd/abcd…": one definition, the writer process's too


def store_bytes(data: bytes, *, content_type: str = "application/dicom") -> StoredFile:
    """Store `data` once, by content. Storing the same bytes again returns the existing row."""
    digest = digest_bytes(data)
    existing = StoredFile.objects.filter(sha256=digest.sha256).first()
    if existing is not None:
        return existing
    name = storage_name_for(digest.sha256)
    # The bytes first, then the row: a row never names missing bytes. Of concurrent writers of
    # the same content one writes (a folder: the renamed copy is deleted; a bucket: a conditional
    # PUT); bytes left without a row by a rolled-back transaction are simply found next time.
    objectstore.save_once(storages["archive"], name, data, content_type=content_type)
    try:
        with transaction.atomic():
            return StoredFile.objects.create(
                sha256=digest.sha256,
                size=digest.size,
                crc32=digest.crc32,
                md5=digest.md5,
                storage_name=name,
                content_type=content_type,
            )
    except IntegrityError:
        return StoredFile.objects.get(sha256=digest.sha256)


def write_blob(data: bytes) -> Digest:
    """Put bytes in the archive storage under their sha256 (no database): safe to call from a
    thread (hashing and writing release the GIL, so intake overlaps them with de-identifying the
    next file), safe to call twice. On a local folder: a temporary file renamed into place."""
    digest = digest_bytes(data)
    storage = storages["archive"]
    name = storage_name_for(digest.sha256)
    path = objectstore.local_path(storage, name)
    if path is None:  # a bucket: one conditional PUT
        objectstore.save_once(storage, name, data, content_type="application/dicom")
    else:
        blobproc.put_file(path, data)
    return digest


class _Written:
    """A BlobFuture's reply as a Digest; a file the writer process could not take (it stopped)
    is written here instead, so nothing waits on a writer that is gone."""

    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    def result(self) -> Digest:
        try:
            sha, md5, crc, size = self.inner.result()
        except blobproc.WriterStopped:
            return write_blob(self.inner.data)
        return Digest(sha256=sha, md5=md5, crc32=crc, size=size)


class BlobWriter:
    """Hashes and writes blobs (write_blob) while the caller goes on; submit(data) returns a
    future of the Digest. Into a local folder a writer process does it (blobproc: no GIL shared
    with the caller; TCIA_BLOB_PROCESS=0 turns it off); into a bucket, or without it, a thread."""

    def __init__(self):
        from django.conf import settings
        from django.core.files.storage import FileSystemStorage

        storage = storages["archive"]
        self._process = None
        if getattr(settings, "TCIA_BLOB_PROCESS", True) and isinstance(storage, FileSystemStorage):
            try:
                self._process = blobproc.writer_for(str(storage.location))
            except OSError:
                self._process = None  # no child process here: the thread does it
        self._pool = None

    @property
    def threaded(self) -> bool:
        """True when a thread of this process does the writing (it then needs the GIL now and then)."""
        return self._process is None

    def submit(self, data: bytes):
        if self._process is not None:
            return _Written(self._process.submit(data))
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-blobs")
        return self._pool.submit(write_blob, data)

    def shutdown(self) -> None:
        """Stop the thread; the process stays for the next batch (it ends with this process)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def store_many(digests: list[Digest], *, content_type: str = "application/dicom") -> dict[str, StoredFile]:
    """The StoredFile rows of blobs already written (write_blob): sha256 → StoredFile, in three
    statements whatever the count (which exist, insert the others, read those back)."""
    wanted = {d.sha256: d for d in digests}
    found = {f.sha256: f for f in StoredFile.objects.filter(sha256__in=list(wanted))}
    missing = [sha for sha in wanted if sha not in found]
    if missing:
        StoredFile.objects.bulk_create([
            StoredFile(sha256=sha, size=wanted[sha].size, crc32=wanted[sha].crc32, md5=wanted[sha].md5,
                       storage_name=storage_name_for(sha), content_type=content_type)
            for sha in missing
        ], ignore_conflicts=True)
        found.update({f.sha256: f for f in StoredFile.objects.filter(sha256__in=missing)})
    return found


def discard_blob(sha256: str) -> None:
    """Remove a blob written ahead of need that no StoredFile row ended up naming."""
    if not StoredFile.objects.filter(sha256=sha256).exists():
        storages["archive"].delete(storage_name_for(sha256))


def verify(stored: StoredFile) -> bool:
    """True when the bytes in storage still hash to the recorded sha256 (fixity; the audit that
    records, blocks and reports is fixity/services.py). FileNotFoundError when they are gone."""
    from fixity.services import hash_file

    sha, size = hash_file("archive", stored.storage_name)
    return sha == stored.sha256 and size == stored.size
