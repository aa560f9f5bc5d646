"""Is a resent instance the same content as the copy the archive holds?

A SOP Instance sent twice may arrive in two encodings: Implicit or Explicit VR, with or without
group lengths, sequences of defined or undefined length, another character set, native pixels
or a lossless compressed syntax. Those are one instance. Only a different value — a pixel value,
or a header attribute's value — is a conflict. Plain pydicom, no Django: used by intake on the
rare path where a known SOP Instance UID comes with other bytes.
"""
from __future__ import annotations

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # PixelData, Float/DoubleFloat Pixel Data
CHARSET = 0x00080005  # the character set changes bytes, not values (values are compared decoded)
TRAILING_PADDING = 0xFFFCFFFC
# The encoding of the pixels decides these when either copy is compressed (YBR_RCT for lossless
# JPEG 2000, for one); the decoded pixel values are compared instead.
PIXEL_ENCODING = frozenset({0x00280004, 0x00280006})  # PhotometricInterpretation, PlanarConfiguration
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"})
MAX_LISTED = 40


def differences(held: Dataset, received: Dataset) -> list[str]:
    """Names of the attributes whose values differ (``PixelData`` for pixel values), in tag order;
    empty when the two are the same content. Both datasets as read from their files."""
    out: list[str] = []
    compressed = _compressed(held) or _compressed(received)
    _compare(held, received, "", out, top=True, compressed=compressed)
    if not _same_pixels(held, received):
        out.append("PixelData")
    return out[:MAX_LISTED]


def _compressed(ds) -> bool:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    return bool(ts is not None and ts.is_compressed)


def _label(prefix: str, tag: int) -> str:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{prefix}{name}"


def _compare(a: Dataset, b: Dataset, prefix: str, out: list, *, top: bool, compressed: bool) -> None:
    tags = set(a.keys()) | set(b.keys())
    for tag in sorted(tags):
        tag = int(tag)
        if tag & 0xFFFF == 0 or tag == CHARSET or tag == TRAILING_PADDING or tag >> 16 == 0x0002:
            continue
        if top and (tag in PIXEL_TAGS or (compressed and tag in PIXEL_ENCODING)):
            continue
        if tag not in a or tag not in b:
            out.append(_label(prefix, tag))
            continue
        if not _same_element(a, b, tag, prefix, out, compressed):
            out.append(_label(prefix, tag))
        if len(out) >= MAX_LISTED:
            return


def _same_element(a: Dataset, b: Dataset, tag: int, prefix: str, out: list, compressed: bool) -> bool:
    ra, rb = a.get_item(tag), b.get_item(tag)
    if (isinstance(ra, RawDataElement) and isinstance(rb, RawDataElement) and a.is_little_endian and b.is_little_endian
            and ra.value == rb.value and ra.value is not None and (ra.VR or rb.VR) != "SQ"):
        return True  # little-endian value bytes are the same in Implicit and Explicit VR
    try:
        ea, eb = a[tag], b[tag]
    except Exception:  # noqa: BLE001 - a value pydicom cannot convert: fall back to the bytes
        return getattr(ra, "value", None) == getattr(rb, "value", None)
    va, vb = _as_sequence(ea, a), _as_sequence(eb, b)
    if va is not None and vb is not None:
        if len(va) != len(vb):
            return False
        for i, (ia, ib) in enumerate(zip(va, vb)):
            _compare(ia, ib, f"{prefix}{_label('', tag)}[{i}].", out, top=False, compressed=compressed)
        return True  # what differs inside is listed by its own path
    return _normalize(ea.value, ea.VR) == _normalize(eb.value, eb.VR)


def _as_sequence(elem, ds):
    """The items of a sequence; a private sequence read as UN bytes (Implicit VR, defined
    length) is parsed as one, so it compares with the same sequence read with its VR."""
    if elem.VR == "SQ":
        return elem.value
    if elem.VR == "UN" and isinstance(elem.value, bytes) and elem.value[:4] == b"\xfe\xff\x00\xe0":
        try:
            from pydicom.values import convert_SQ

            return convert_SQ(elem.value, True, True)
        except Exception:  # noqa: BLE001 - not a sequence after all
            return None
    return None


def _normalize(value, vr: str):
    if value is None:
        return None
    if isinstance(value, (MultiValue, list, tuple)):
        items = [_normalize(v, vr) for v in value]
        return items[0] if len(items) == 1 else tuple(items)
    if isinstance(value, PersonName):
        return str(value).rstrip(" \x00")
    if isinstance(value, str):
        return value.rstrip(" \x00")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        # A private attribute read as UN on one side and with its VR on the other: compare as text
        # when it decodes as text, else as bytes.
        if vr in TEXT_VRS or vr == "UN":
            try:
                return data.decode("latin-1").rstrip(" \x00") if vr != "UN" or _looks_textual(data) else data
            except UnicodeDecodeError:
                return data
        return data
    if isinstance(value, float):
        return float(value)
    return value


def _looks_textual(data: bytes) -> bool:
    return all(32 <= c < 127 or c in (0, 9, 10, 13, 27, 0x5C) for c in data[:256])


def _same_pixels(a: Dataset, b: Dataset) -> bool:
    tags_a = PIXEL_TAGS & {int(t) for t in a.keys()}
    tags_b = PIXEL_TAGS & {int(t) for t in b.keys()}
    if tags_a != tags_b:
        return False
    if not tags_a:
        return True
    tag = next(iter(tags_a))
    ra, rb = a.get_item(tag), b.get_item(tag)
    if (not _compressed(a) and not _compressed(b) and a.is_little_endian and b.is_little_endian
            and getattr(ra, "value", None) == getattr(rb, "value", None)):
        return True
    try:
        import numpy

        return bool(numpy.array_equal(a.pixel_array, b.pixel_array))
    except Exception:  # noqa: BLE001 - pixels that cannot be decoded cannot be shown to be the same
        return False
