"""Reading a stored DICOM file for DICOMweb (plain Python, no Django).

`parse(fh)` reads the header once and records everything later requests need:

- the DICOM JSON of every element before the pixel data (PS3.18 F.2), with binary values over
  `BULK_THRESHOLD` bytes replaced by BulkDataURIs that start with `PLACEHOLDER` (the instance's
  URL is filled in per response, so the cached text serves every root and host);
- where the pixel data lies: one [offset, length] for native data, or for encapsulated data the
  fragments of each frame, so a frame request seeks and reads only that frame's bytes.

Encapsulated frames are found from the Basic Offset Table, the Extended Offset Table, one
fragment per frame, or (JPEG family) the start-of-image marker that opens each frame.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

from pydicom import dcmread
from pydicom.uid import UID

PLACEHOLDER = "@@INSTANCE@@"
BULK_THRESHOLD = 1024
PIXEL_DATA = 0x7FE00010
ITEM = 0xE000FFFE  # (FFFE,E000) read as little-endian group, element
SEQ_DELIMITER = 0xE0DDFFFE
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
NATIVE_SYNTAXES = {IMPLICIT_LE, "1.2.840.10008.1.2.1", EXPLICIT_BE, "1.2.840.10008.1.2.1.99"}
LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}


# Study- and series-level attributes QIDO returns that the archive's tables do not hold: read
# from one instance's header (the first of the series) and kept with it.
SUMMARY_TAGS = ("00080030", "00080031", "00080050", "00080090", "00080201", "00100030", "00400244", "00400245",
                "00400275")


class DicomFileError(ValueError):
    """The file cannot be served as asked (no pixel data, unknown frame layout, ...)."""


@dataclass
class Parsed:
    dicom_json: str
    transfer_syntax_uid: str
    summary: dict = field(default_factory=dict)
    bits_allocated: int | None = None
    number_of_frames: int = 0
    pixel_vr: str = ""
    pixel_offset: int | None = None
    pixel_length: int | None = None
    frames: list = field(default_factory=list)  # encapsulated: [[[offset, length], ...] per frame]
    rows: int | None = None
    columns: int | None = None
    samples_per_pixel: int = 1


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse(fh) -> Parsed:
    """Parse the open binary file `fh` (positioned at 0)."""
    ds = dcmread(fh, stop_before_pixels=True, force=True)
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or IMPLICIT_LE)
    ordinals = {id(elem): i for i, elem in enumerate(ds.iterall())}

    def bulk(elem):
        return f"{PLACEHOLDER}/bulkdata/{ordinals.get(id(elem), 0)}"

    data = ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=bulk,
                           suppress_invalid_tags=True)
    parsed = Parsed(dicom_json="", transfer_syntax_uid=ts, bits_allocated=_int(ds.get("BitsAllocated")),
                    rows=_int(ds.get("Rows")), columns=_int(ds.get("Columns")),
                    samples_per_pixel=_int(ds.get("SamplesPerPixel"), 1) or 1)
    start = fh.tell()
    _pixel_layout(fh, start, ts, ds, parsed)
    if parsed.pixel_vr:
        data["7FE00010"] = {"vr": parsed.pixel_vr, "BulkDataURI": f"{PLACEHOLDER}/bulkdata/7FE00010"}
    data["00083002"] = {"vr": "UI", "Value": [ts]}  # AvailableTransferSyntaxUID: what frames come in
    parsed.summary = {t: data[t] for t in SUMMARY_TAGS if t in data}
    parsed.dicom_json = json.dumps(dict(sorted(data.items())), separators=(",", ":"), ensure_ascii=False)
    return parsed


def _pixel_layout(fh, start: int, ts: str, ds, parsed: Parsed) -> None:
    fh.seek(start)
    head = fh.read(8)
    if len(head) < 8:
        return
    little = ts != EXPLICIT_BE
    group, element = struct.unpack("<HH" if little else ">HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA:
        return
    if ts == IMPLICIT_LE:
        vr, length, value_at = ("OW" if (parsed.bits_allocated or 16) > 8 else "OB"), struct.unpack("<I", head[4:8])[0], start + 8
    else:
        vr_bytes = head[4:6]
        vr = vr_bytes.decode("ascii", "replace")
        if vr_bytes in LONG_VRS:
            length = struct.unpack("<I" if little else ">I", fh.read(4))[0]
            value_at = start + 12
        else:
            length = struct.unpack("<H" if little else ">H", head[6:8])[0]
            value_at = start + 8
    parsed.pixel_vr = vr
    parsed.number_of_frames = max(1, _int(ds.get("NumberOfFrames"), 1) or 1)
    if length != 0xFFFFFFFF:
        parsed.pixel_offset, parsed.pixel_length = value_at, length
        return
    parsed.pixel_offset = value_at
    parsed.frames = _encapsulated_frames(fh, value_at, parsed.number_of_frames, ds)


def _items(fh, at: int):
    """(item start, value offset, value length) of each item of encapsulated pixel data."""
    fh.seek(at)
    while True:
        pos = fh.tell()
        head = fh.read(8)
        if len(head) < 8:
            return
        tag, length = struct.unpack("<II", head)
        if tag == SEQ_DELIMITER:
            return
        if tag != ITEM:
            raise DicomFileError(f"encapsulated pixel data: unexpected tag {tag:08X} at byte {pos}")
        yield pos, pos + 8, length
        fh.seek(pos + 8 + length)


def _encapsulated_frames(fh, at: int, n_frames: int, ds) -> list:
    items = list(_items(fh, at))
    if not items:
        raise DicomFileError("encapsulated pixel data without a Basic Offset Table item")
    bot_pos, bot_value, bot_length = items[0]
    fragments = items[1:]
    if not fragments:
        raise DicomFileError("encapsulated pixel data without fragments")
    first = fragments[0][0]
    if n_frames == 1:
        return [[[v, n] for _p, v, n in fragments]]
    offsets = None
    if bot_length:
        fh.seek(bot_value)
        raw = fh.read(bot_length)
        offsets = list(struct.unpack(f"<{bot_length // 4}I", raw))
    elif "ExtendedOffsetTable" in ds:
        raw = ds.ExtendedOffsetTable
        offsets = list(struct.unpack(f"<{len(raw) // 8}Q", raw))
    if offsets:
        starts = [first + o for o in offsets]
        frames, current = [], None
        for pos, value, length in fragments:
            if pos in starts:
                current = []
                frames.append(current)
            if current is None:
                raise DicomFileError("the offset table does not point at the first fragment")
            current.append([value, length])
        if len(frames) == n_frames:
            return frames
    if len(fragments) == n_frames:
        return [[[v, n]] for _p, v, n in fragments]
    if UID(str(ds.file_meta.TransferSyntaxUID)).is_compressed:
        frames = []
        for _pos, value, length in fragments:
            fh.seek(value)
            if fh.read(2) == b"\xff\xd8" or not frames:
                frames.append([])
            frames[-1].append([value, length])
        if len(frames) == n_frames:
            return frames
    raise DicomFileError(
        f"cannot tell the {n_frames} frames apart among {len(fragments)} fragments (no offset table)"
    )


def native_frame_range(parsed_or_header, index: int) -> tuple[int, int]:
    """(offset, length) of frame `index` (0-based) of native pixel data."""
    h = parsed_or_header
    n = max(1, h.number_of_frames or 1)
    if not 0 <= index < n:
        raise DicomFileError(f"frame {index + 1} out of range (the instance has {n})")
    if h.pixel_length is None or h.pixel_offset is None:
        raise DicomFileError("the instance has no pixel data")
    size = h.pixel_length // n
    bits = (h.rows or 0) * (h.columns or 0) * (h.samples_per_pixel or 1) * (h.bits_allocated or 8)
    if bits and bits % 8 == 0 and bits // 8 * n <= h.pixel_length:
        size = bits // 8
    elif n > 1:
        raise DicomFileError("frames of 1-bit pixel data that do not end on a byte boundary")
    return h.pixel_offset + index * size, size
