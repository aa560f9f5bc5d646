"""Thumbnails and previews in the "derived" storage, named by the source file's sha256.

Files are immutable and content-addressed, so a rendering named after the sha256 never goes
stale: a corrected image has a new sha256 and so new renderings. Anything here may be deleted
and is rendered again on the next request."""
from __future__ import annotations

import io
import re

from django.core.files.storage import storages

from collections_app.models import StoredFile
from curation.dicom import render
from tcia.core import objectstore

SHA = re.compile(r"^[0-9a-f]{64}$")
SHEET_KEY = re.compile(r"^[0-9a-f]{24}$")


def storage():
    return storages["derived"]


def thumb_name(sha: str) -> str:
    return f"review/thumb/{sha[:2]}/{sha}.jpg"


def preview_name(sha: str, window: str, frame: int) -> str:
    return f"review/preview/{sha[:2]}/{sha}/{window}-{frame}.jpg"


def _save(name: str, data: bytes) -> None:
    objectstore.save_once(storage(), name, data, content_type="image/jpeg")  # a concurrent render may win


def read_dataset(stored: StoredFile):
    with stored.open() as fh:
        return render.read(fh.read())


def _cached(name: str) -> bytes | None:
    """A rendering already in the derived storage, or None."""
    try:
        with storage().open(name) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def thumbnail(stored: StoredFile) -> bytes:
    """The cached thumbnail, rendered now if missing. Raises render.RenderError."""
    name = thumb_name(stored.sha256)
    data = _cached(name)
    if data is not None:
        return data
    data = render.thumbnail_jpeg(read_dataset(stored))
    _save(name, data)
    return data


def preview(stored: StoredFile, window: str = "default", frame: int = 0) -> tuple[bytes, bool]:
    """(jpeg, was_cached). Raises render.RenderError."""
    name = preview_name(stored.sha256, window, frame)
    data = _cached(name)
    if data is not None:
        return data, True
    data, _ = render.preview_jpeg(read_dataset(stored), frame=frame, window=window)
    _save(name, data)
    return data, False


def cached_path(name: str) -> str | None:
    """Filesystem path of a cached rendering when the derived storage is a folder (fast serving);
    None on a bucket, where the rendering is read through the storage API."""
    return objectstore.local_path(storage(), name)


SHEET_COLUMNS = 10


def sheet_key(shas: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(shas).encode()).hexdigest()[:24]


def sheet_name(key: str) -> str:
    return f"review/sheet/{key[:2]}/{key}.jpg"


def contact_sheet(stored_files: list[StoredFile]) -> bytes:
    """One JPEG with the thumbnails of a grid page (10 per row, 128 px cells), so a page of
    100 thumbnails costs one request instead of 100 (each request pays for the session, the
    user and the curator check). Named by the hash of the page's sha256 list: never stale."""
    from PIL import Image as PILImage

    shas = [s.sha256 for s in stored_files]
    key = sheet_key(shas)
    name = sheet_name(key)
    data = _cached(name)
    if data is not None:
        return data
    size = render.THUMB_SIZE
    cols = min(SHEET_COLUMNS, max(1, len(shas)))
    rows = max(1, (len(shas) + cols - 1) // cols)
    sheet = PILImage.new("RGB", (cols * size, rows * size), (0, 0, 0))
    for i, stored in enumerate(stored_files):
        try:
            thumb = PILImage.open(io.BytesIO(thumbnail(stored)))
            thumb.draft("RGB", (size, size))
            thumb = thumb.convert("RGB")
        except (render.RenderError, OSError):
            thumb = PILImage.new("RGB", (size, size), (80, 0, 0))
        x = (i % cols) * size + (size - thumb.width) // 2
        y = (i // cols) * size + (size - thumb.height) // 2
        sheet.paste(thumb, (x, y))
    data = render.encode_jpeg(sheet)
    _save(name, data)
    return data


# --- class montages -------------------------------------------------------------------------------

def montage_key(shas: list[str]) -> str:
    """Digest of a class's member files (sorted): a new or corrected image makes a new montage."""
    return sheet_key(sorted(shas))


def montage_name(key: str) -> str:
    return f"review/montage/{key[:2]}/{key}.jpg"


def montage(stored_files: list[StoredFile]) -> tuple[bytes, str, int]:
    """(jpeg, key, files that could not be used) for a class: max | mean | min of its images'
    pixels (render.montage), cached under the digest of its files. Raises render.RenderError
    when none of the files can be read."""
    key = montage_key([s.sha256 for s in stored_files])
    name = montage_name(key)
    data = _cached(name)
    if data is not None:
        return data, key, 0
    projection = render.Projection()
    first, failed, fast = None, 0, None
    for stored in stored_files:
        try:
            with stored.open() as fh:
                data = fh.read()
            quick = fast.pixels(data) if fast is not None else None
            if quick is not None:  # a look-alike of the first file: no header parse (render.TrailingPixels)
                arr, slope, intercept = quick
                projection.add(arr, slope=slope, intercept=intercept)
                continue
            ds = render.read(data)
            projection.add_dataset(ds)
        except (render.RenderError, OSError, ValueError):
            failed += 1
            continue
        if first is None:
            first = ds
            fast = render.TrailingPixels(ds, data) if not render.is_colour(ds) else None
    if first is None:
        raise render.RenderError(f"none of the {len(stored_files)} images could be read")
    data = render.encode_jpeg(render.montage(projection, first))
    _save(name, data)
    return data, key, failed + projection.skipped
