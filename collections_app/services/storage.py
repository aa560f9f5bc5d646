"""Writing immutable, content-addressed files into the archive storage."""
import hashlib
import zlib
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db import IntegrityError, transaction

from tcia.core import objectstore

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


def verify(stored: StoredFile) -> bool:
    """True when the bytes in storage still hash to the recorded sha256 (fixity)."""
    h = hashlib.sha256()
    size = 0
    with stored.open() as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest() == stored.sha256 and size == stored.size
