"""WADO-RS (PS3.18 §10.4): instances, metadata, frames, rendered images, thumbnails, bulk data.

Files are streamed from the content-addressed store through Django's storage API (a folder
today, S3 tomorrow) in fixed-size chunks, so memory stays constant whatever the study size,
and the exact Content-Length of a multipart answer is known before the first byte: every part
header is built from the sizes the archive keeps. Bytes are sent as stored: the archive does
not transcode, so a request that insists on another transfer syntax gets 406 naming the stored
ones, except uncompressed frames, which are decoded on the fly when the client asks for them.
"""
from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass

from django.core.files.storage import storages
from django.db.models import F

from collections_app.models import Image, VersionEntry, VersionSeries
from tcia.core import objectstore

from . import dicomfile
from .headers import header_for, header_text, headers_for

CHUNK = 256 * 1024
EXPLICIT_LE = "1.2.840.10008.1.2.1"
NATIVE = dicomfile.NATIVE_SYNTAXES
# Media types of compressed frames (PS3.18 Table 8.7.3-2).
FRAME_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}


class NotAcceptable(Exception):
    """406: what the client accepts cannot be served; the message says what can."""


class NotFound(Exception):
    pass


# ------------------------------------------------------------------ Accept

@dataclass(frozen=True)
class MediaRange:
    type: str          # e.g. multipart/related, application/dicom
    part: str          # the type= parameter of multipart/related, "" otherwise
    transfer_syntax: str  # "" when absent, "*" for any


def parse_accept(header: str, query_accept: str = "") -> list[MediaRange]:
    """Media ranges of an Accept header (the `accept` query parameter wins, PS3.18 §8.3.3.1),
    best first. `type` may be quoted or not (cornerstone sends it unquoted)."""
    from tcia.core.mediatypes import media_ranges

    return [MediaRange(media, params.get("type", "").lower(), params.get("transfer-syntax", ""))
            for media, params in media_ranges(query_accept or header or "")]


# ------------------------------------------------------------------ what a URL names

@dataclass
class Entry:
    study_uid: str
    series_uid: str
    sop_uid: str
    stored_file_id: int
    storage_name: str
    size: int
    sha256: str
    transfer_syntax: str
    instance_number: int | None


def entries(scope, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None,
            with_syntax: bool = True) -> list[Entry]:
    """The frozen files a WADO URL names, in series then InstanceNumber order; NotFound if none.
    One query (plus one for the stored transfer syntaxes when `with_syntax`): a series belongs to
    one collection, so within a scope the version of each entry is the scope's version of it."""
    if sop_uid is not None and series_uid is not None:
        return _one_entry(scope, study_uid, series_uid, sop_uid, with_syntax)
    from . import cache

    key = (scope.version_ids, study_uid, series_uid, sop_uid, with_syntax)
    hit = cache.listings.get(key)
    if hit is None:
        hit = _entries_uncached(scope, study_uid, series_uid, sop_uid, with_syntax)
        cache.listings.put(key, hit)
    return hit


def _entries_uncached(scope, study_uid, series_uid, sop_uid, with_syntax) -> list[Entry]:
    vs = VersionSeries.objects.filter(version_id__in=scope.version_ids, study_instance_uid=study_uid)
    if series_uid is not None:
        vs = vs.filter(series_instance_uid=series_uid)
    qs = VersionEntry.objects.filter(version_id__in=scope.version_ids, series_id__in=vs.values("series_id"))
    if sop_uid is not None:
        qs = qs.filter(sop_instance_uid=sop_uid)
    rows = list(qs.order_by("series_id", F("instance_number").asc(nulls_first=True), "sop_instance_uid").values_list(
        "series_id", "series__series_instance_uid", "sop_instance_uid", "stored_file_id", "stored_file__storage_name",
        "stored_file__size", "stored_file__sha256", "instance_number"))
    if not rows:
        raise NotFound("No such study, series or instance in this archive root.")
    syntaxes = {}
    if with_syntax:
        syntaxes = dict(
            ((sid, sop), ts) for sid, sop, ts in Image.objects.filter(
                series_id__in={r[0] for r in rows}, sop_instance_uid__in=[r[2] for r in rows]
            ).values_list("series_id", "sop_instance_uid", "transfer_syntax_uid")
        )
    return [Entry(study_uid, se, sop, fid, name, size, sha, syntaxes.get((series_id, sop), ""), number)
            for series_id, se, sop, fid, name, size, sha, number in rows]


def _one_entry(scope, study_uid, series_uid, sop_uid, with_syntax) -> list[Entry]:
    """The frames/rendered/metadata hot path: two small indexed queries (by the manifest's
    (version, SOP Instance UID) key, then the series' snapshot), cheap to plan, instead of one
    query joining four tables, whose planning alone cost a millisecond on PostgreSQL; then kept
    (dicomweb.cache: frozen manifests never change)."""
    from . import cache

    key = (scope.version_ids, study_uid, series_uid, sop_uid, with_syntax)
    hit = cache.entries.get(key)
    if hit is not None:
        return hit
    found = _one_entry_uncached(scope, study_uid, series_uid, sop_uid, with_syntax)
    cache.entries.put(key, found)
    return found


def _one_entry_uncached(scope, study_uid, series_uid, sop_uid, with_syntax) -> list[Entry]:
    in_scope = set(scope.version_ids)
    row = next((r for r in VersionEntry.objects.filter(sop_instance_uid=sop_uid).values_list(
        "version_id", "series_id", "stored_file_id", "stored_file__storage_name", "stored_file__size",
        "stored_file__sha256", "instance_number") if r[0] in in_scope), None)
    if row is None or not VersionSeries.objects.filter(
            version_id=row[0], series_id=row[1], study_instance_uid=study_uid, series_instance_uid=series_uid).exists():
        raise NotFound("No such study, series or instance in this archive root.")
    version_id, series_id, fid, name, size, sha, number = row
    ts = ""
    if with_syntax:
        ts = Image.objects.filter(series_id=series_id, sop_instance_uid=sop_uid).values_list(
            "transfer_syntax_uid", flat=True).first() or ""
    return [Entry(study_uid, series_uid, sop_uid, fid, name, size, sha, ts, number)]


def etag_of(items, *extra) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(item.sha256.encode())
    for e in extra:
        h.update(str(e).encode())
    return f'"{h.hexdigest()[:32]}"'


# ------------------------------------------------------------------ multipart

def _new_boundary() -> str:
    return uuid.uuid4().hex


def _read_file(storage_name: str, size: int):
    from collections_app.services.streaming import stream_stored

    return stream_stored(storage_name, size, CHUNK)


@dataclass
class Part:
    content_type: str
    length: int
    chunks: object  # a callable returning an iterator of bytes, or bytes
    location: str = ""

    def head(self, boundary: str) -> bytes:
        lines = [f"--{boundary}", f"Content-Type: {self.content_type}", f"Content-Length: {self.length}"]
        if self.location:
            lines.append(f"Content-Location: {self.location}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def multipart(parts: list[Part], boundary: str) -> tuple[object, int]:
    """(iterator of the body, its exact length)."""
    tail = f"--{boundary}--\r\n".encode("ascii")
    length = sum(len(p.head(boundary)) + p.length + 2 for p in parts) + len(tail)

    def body():
        for p in parts:
            yield p.head(boundary)
            if isinstance(p.chunks, (bytes, bytearray)):
                yield bytes(p.chunks)
            else:
                yield from p.chunks()
            yield b"\r\n"
        yield tail

    return body(), length


def multipart_content_type(part_type: str, boundary: str, transfer_syntax: str = "") -> str:
    extra = f"; transfer-syntax={transfer_syntax}" if transfer_syntax else ""
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


# ------------------------------------------------------------------ retrieve instances

def negotiate_instances(accept: list[MediaRange], files: list[Entry], single_ok: bool) -> str:
    """'multipart' or 'single'; NotAcceptable when the client wants a syntax we do not store."""
    stored = sorted({f.transfer_syntax or EXPLICIT_LE for f in files})
    if not accept:
        return "multipart"
    for m in accept:
        if m.type in ("*/*", "multipart/*") or (m.type == "multipart/related" and m.part in ("", "application/dicom", "*/*", "application/*")):
            if m.transfer_syntax in ("", "*") or all((f.transfer_syntax or EXPLICIT_LE) == m.transfer_syntax for f in files):
                return "multipart"
        if m.type == "application/dicom" and single_ok:
            if m.transfer_syntax in ("", "*") or stored == [m.transfer_syntax]:
                return "single"
    raise NotAcceptable(
        "Instances are sent as stored, as multipart/related; type=\"application/dicom\" (or application/dicom for "
        f"one instance); their transfer syntaxes: {', '.join(stored)}. Ask with transfer-syntax=* or one of these."
    )


def instance_parts(files: list[Entry], urls) -> list[Part]:
    parts = []
    for f in files:
        ts = f.transfer_syntax
        ctype = f"application/dicom; transfer-syntax={ts}" if ts else "application/dicom"
        parts.append(Part(ctype, f.size, (lambda f=f: _read_file(f.storage_name, f.size)),
                          urls.instance(f.study_uid, f.series_uid, f.sop_uid)))
    return parts


# ------------------------------------------------------------------ metadata

def metadata_text(files: list[Entry], urls) -> str:
    headers = headers_for([(f.stored_file_id, f.storage_name) for f in files])
    missing = [f.sop_uid for f in files if f.stored_file_id not in headers]
    if missing:
        raise OSError(f"{len(missing)} of {len(files)} stored files could not be read")
    return "[" + ",".join(
        header_text(headers[f.stored_file_id], urls.instance(f.study_uid, f.series_uid, f.sop_uid)) for f in files
    ) + "]"


# ------------------------------------------------------------------ frames

def parse_frame_list(text: str) -> list[int]:
    try:
        numbers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise NotFound(f"Frame list {text!r} is not a comma-separated list of numbers.") from None
    if not numbers or any(n < 1 for n in numbers):
        raise NotFound("Frame numbers start at 1.")
    return numbers


def _stored_frame(header, storage_name: str, index: int) -> bytes:
    storage = storages["archive"]  # each piece is one bounded read (on a bucket, one ranged GET)
    if header.frames:
        if not 0 <= index < len(header.frames):
            raise NotFound(f"Frame {index + 1} out of range (the instance has {len(header.frames)}).")
        return b"".join(objectstore.read_bytes(storage, storage_name, offset, length)
                        for offset, length in header.frames[index])
    try:
        offset, length = dicomfile.native_frame_range(header, index)
    except dicomfile.DicomFileError as exc:
        raise NotFound(str(exc)) from None
    data = objectstore.read_bytes(storage, storage_name, offset, length)
    if header.transfer_syntax_uid == dicomfile.EXPLICIT_BE and (header.bits_allocated or 8) > 8:
        import numpy as np

        data = np.frombuffer(data, dtype=f">u{(header.bits_allocated or 16) // 8}").astype(
            f"<u{(header.bits_allocated or 16) // 8}").tobytes()
    return data


def _decoded_frame(storage_name: str, index: int) -> bytes:
    """An uncompressed little-endian frame decoded from compressed pixel data."""
    from pydicom import dcmread
    from pydicom.pixels import pixel_array

    with storages["archive"].open(storage_name, "rb") as fh:
        ds = dcmread(io.BytesIO(fh.read()), force=True)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 0 <= index < frames:
        raise NotFound(f"Frame {index + 1} out of range (the instance has {frames}).")
    arr = pixel_array(ds, index=index if frames > 1 else None, raw=True)
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def frames_response_parts(accept: list[MediaRange], header, storage_name: str, numbers: list[int], location: str):
    """(parts, multipart part type, single part?) for a frames request."""
    ts = header.transfer_syntax_uid or EXPLICIT_LE
    native = ts in NATIVE
    stored_media = "application/octet-stream" if native else FRAME_MEDIA.get(ts, "application/octet-stream")
    if header.number_of_frames == 0:
        raise NotFound("The instance has no pixel data.")
    choice = None  # (how: stored|decoded, part content type, single)
    for m in accept or [MediaRange("multipart/related", "application/octet-stream", "")]:
        multi = m.type in ("multipart/related", "multipart/*", "*/*")
        part = m.part if m.type == "multipart/related" else ("" if multi else m.type)
        if m.type == "*/*":
            part = "application/octet-stream"
        if part in ("application/octet-stream", "*/*", "application/*", ""):
            if m.transfer_syntax == "*" or (m.transfer_syntax == ts):
                choice = ("stored", f"application/octet-stream; transfer-syntax={ts}", not multi)
            elif m.transfer_syntax in ("", EXPLICIT_LE):
                choice = ("stored" if native else "decoded",
                          f"application/octet-stream; transfer-syntax={EXPLICIT_LE}", not multi)
        elif part == stored_media and m.transfer_syntax in ("", "*", ts) and not native:
            choice = ("stored", f"{stored_media}; transfer-syntax={ts}", not multi)
        elif part.startswith("image/") and m.transfer_syntax in ("", "*") and part == stored_media:
            choice = ("stored", f"{stored_media}; transfer-syntax={ts}", not multi)
        if choice:
            break
    if choice is None:
        raise NotAcceptable(
            f"Frames of this instance are stored as {ts} ({stored_media}); ask for multipart/related; "
            "type=\"application/octet-stream\" with transfer-syntax=* (as stored) or without it (uncompressed)"
            + (f", or type=\"{stored_media}\"." if not native else ".")
        )
    how, ctype, single = choice
    if single and len(numbers) > 1:
        raise NotAcceptable("A single-part answer holds one frame: ask for multipart/related for several.")
    parts = []
    for n in numbers:
        data = _stored_frame(header, storage_name, n - 1) if how == "stored" else _decoded_frame(storage_name, n - 1)
        parts.append(Part(ctype, len(data), data, f"{location}/frames/{n}"))
    return parts, ctype.split(";")[0], single


# ------------------------------------------------------------------ rendered and thumbnails

@dataclass
class RenderParams:
    media: str = "image/jpeg"
    window: tuple[float, float] | None = None
    viewport: tuple[int, int] | None = None
    quality: int = 85


def render_params(request, accept: list[MediaRange], thumbnail: bool) -> RenderParams:
    p = RenderParams()
    for m in accept:
        if m.type in ("image/jpeg", "image/png"):
            p.media = m.type
            break
        if m.type in ("*/*", "image/*"):
            break
    else:
        if accept:
            raise NotAcceptable("Rendered images come as image/jpeg or image/png.")
    window = request.GET.get("window")
    if window and not thumbnail:
        bits = window.split(",")
        try:
            center, width = float(bits[0]), float(bits[1])
        except (ValueError, IndexError):
            raise NotFound("window must be center,width[,function].") from None
        if len(bits) > 2 and bits[2].strip().lower() not in ("linear", ""):
            raise NotFound("Only the linear VOI function is supported in window.")
        p.window = (center, max(width, 1.0))
    viewport = request.GET.get("viewport")
    if viewport:
        try:
            w, h = (int(float(x)) for x in viewport.split(",")[:2])
        except ValueError:
            raise NotFound("viewport must be width,height.") from None
        p.viewport = (max(1, min(w, 4096)), max(1, min(h, 4096)))
    elif thumbnail:
        p.viewport = (128, 128)
    if request.GET.get("quality"):
        try:
            p.quality = max(1, min(100, int(request.GET["quality"])))
        except ValueError:
            raise NotFound("quality must be 1 to 100.") from None
    return p


def rendered(storage_name: str, frame_index: int, p: RenderParams) -> bytes:
    from PIL import Image as PILImage

    from curation.dicom import render

    with storages["archive"].open(storage_name, "rb") as fh:
        data = fh.read()
    try:
        if p.window:
            result = render.render(data, frame=frame_index, center=p.window[0], width=p.window[1])
        else:
            result = render.render(data, frame=frame_index, window="file")
    except render.RenderError as exc:
        raise NotFound(str(exc)) from None
    img = result.image
    if p.viewport:
        img = img.copy()
        img.thumbnail(p.viewport, PILImage.Resampling.BILINEAR)
    return render.encode_png(img) if p.media == "image/png" else render.encode_jpeg(img, p.quality)


def representative(files: list[Entry]) -> Entry:
    """The instance that stands for a series or study in a thumbnail: the middle one of the first series."""
    first_series = [f for f in files if f.series_uid == files[0].series_uid]
    return first_series[len(first_series) // 2]


# ------------------------------------------------------------------ bulk data

def bulk_parts(entry: Entry, key: str, urls) -> list[Part]:
    header = header_for(entry.stored_file_id, entry.storage_name)
    if header is None:
        raise OSError("the stored file could not be read")
    location = urls.instance(entry.study_uid, entry.series_uid, entry.sop_uid) + f"/bulkdata/{key}"
    if key.upper() == "7FE00010":
        if header.number_of_frames == 0:
            raise NotFound("The instance has no pixel data.")
        ts = header.transfer_syntax_uid or EXPLICIT_LE
        if header.frames:
            media = FRAME_MEDIA.get(ts, "application/octet-stream")
            return [Part(f"{media}; transfer-syntax={ts}", len(d), d, location)
                    for d in (_stored_frame(header, entry.storage_name, i) for i in range(len(header.frames)))]
        data = objectstore.read_bytes(storages["archive"], entry.storage_name, header.pixel_offset, header.pixel_length)
        return [Part(f"application/octet-stream; transfer-syntax={ts}", len(data), data, location)]
    try:
        ordinal = int(key)
    except ValueError:
        raise NotFound(f"No bulk data {key!r}.") from None
    from pydicom import dcmread

    with storages["archive"].open(entry.storage_name, "rb") as fh:
        ds = dcmread(fh, stop_before_pixels=True, force=True)
        for i, elem in enumerate(ds.iterall()):
            if i == ordinal:
                value = elem.value if isinstance(elem.value, (bytes, bytearray)) else None
                if value is None:
                    break
                return [Part("application/octet-stream", len(value), bytes(value), location)]
    raise NotFound(f"No bulk data {key!r}.")
