"""Reading a stored file in chunks through the storage API (a folder, or an S3 bucket where the
file is one streamed GET: tcia/core/s3storage.py), in constant memory, with a check that it had
the size the archive recorded."""
from django.core.files.storage import storages

CHUNK = 256 * 1024


def stream_stored(storage_name: str, size: int, chunk: int = CHUNK):
    sent = 0
    with storages["archive"].open(storage_name, "rb") as fh:
        while data := fh.read(chunk):
            sent += len(data)
            yield data
    if sent != size:
        raise OSError(f"stored file {storage_name[-12:]} has {sent} bytes, expected {size}")
