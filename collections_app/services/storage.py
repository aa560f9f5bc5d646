"""Writing immutable, content-addressed files into the archive storage."""
import hashlib
import io
import zlib
from dataclasses import dataclass

from django.core.files.base import File
from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from ..models import StoredFile

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    sha256: str
    md5: str
    crc32: int
    size: int


def digest_bytes(data: bytes) -> Digest:
    return Digest(
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        crc32=zlib.crc32(data) & 0xFFFFFFFF,
        size=len(data),
    )


def storage_name_for(sha256: str) -> str:
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def store_bytes(data: bytes, *, content_type: str = "application/dicom") -> StoredFile:
    """Store `data` once, by content. Storing the same bytes again returns the existing row."""
    digest = digest_bytes(data)
    existing = StoredFile.objects.filter(sha256=digest.sha256).first()
    if existing is not None:
        return existing
    storage = storages["archive"]
    name = storage_name_for(digest.sha256)
    if not storage.exists(name):
        saved = storage.save(name, File(io.BytesIO(data), name=name))
        if saved != name:  # a concurrent writer got there first; keep one copy
            storage.delete(saved)
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


def store_many(blobs: list[bytes], *, content_type: str = "application/dicom") -> dict[str, StoredFile]:
    """store_bytes for many files: sha256 → StoredFile, in three statements whatever the count
    (which of them exist, insert the others, read those back). Bytes go to the storage first, so
    a row never points at missing bytes."""
    digests = {}
    for data in blobs:
        digest = digest_bytes(data)
        digests.setdefault(digest.sha256, (digest, data))
    found = {f.sha256: f for f in StoredFile.objects.filter(sha256__in=list(digests))}
    missing = [sha for sha in digests if sha not in found]
    if missing:
        storage = storages["archive"]
        for sha in missing:
            name = storage_name_for(sha)
            if not storage.exists(name):
                saved = storage.save(name, File(io.BytesIO(digests[sha][1]), name=name))
                if saved != name:  # a concurrent writer got there first; keep one copy
                    storage.delete(saved)
        StoredFile.objects.bulk_create([
            StoredFile(sha256=sha, size=d.size, crc32=d.crc32, md5=d.md5, storage_name=storage_name_for(sha),
                       content_type=content_type)
            for sha, (d, _) in ((sha, digests[sha]) for sha in missing)
        ], ignore_conflicts=True)
        found.update({f.sha256: f for f in StoredFile.objects.filter(sha256__in=missing)})
    return found


def verify(stored: StoredFile) -> bool:
    """True when the bytes in storage still hash to the recorded sha256 (fixity)."""
    h = hashlib.sha256()
    size = 0
    with stored.open() as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest() == stored.sha256 and size == stored.size
