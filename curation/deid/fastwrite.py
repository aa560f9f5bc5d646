"""Encode a dataset as pydicom's `dcmwrite(..., enforce_file_format=True)` does, faster.

After de-identification almost every element of a file is still a `RawDataElement`: the bytes it
was read as (the engine writes its replacements as raw elements too). pydicom's writer spends
~20 µs on each element whatever it is (a buffer object, encoding checks, two writes); for the
~250 elements of a CT that is 2.3 ms, most of the cost of de-identifying it. Here a raw element
whose bytes pydicom would write unchanged is written as one header (packed with `struct`) and its
value. Converted elements of the common shapes (UIDs and code strings, ASCII texts and person names
in a character set where ASCII stays ASCII, single integers, empty values), converted sequences
whose items are in the encoding they were read in, Pixel Data and the File Meta Information are
encoded here by the rules of pydicom's own writers (write_string, write_text, write_PN,
write_numbers, write_sequence_item, write_OBvalue, write_file_meta_info); everything else goes
through pydicom's `write_data_element` with the arguments `write_dataset` would give it.

Any dataset outside the fast path's preconditions (big endian, deflated, a private or missing
transfer syntax, an encoding or character set other than the one it was read in, group 0000/0002
elements in the dataset, invalid file meta) is written by `pydicom.dcmwrite` itself. The output is
byte-for-byte what `dcmwrite` writes: `tests/curation/test_deid_fastwrite.py` compares the two on
every file of pydicom's test data, as read and after de-identification, on the synthetic corpus and
on edited datasets.
"""
from __future__ import annotations

import io
import struct
from copy import copy

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.dataset import FileMetaDataset
from pydicom.charset import convert_encodings
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import validate_file_meta, write_data_element, write_file_meta_info
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_16, EXPLICIT_VR_LENGTH_32, PersonName

_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
_SHORT_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_16)
_SHORT_HEADER = struct.Struct("<HH2sH").pack      # explicit VR, 16-bit length
_LONG_HEADER = struct.Struct("<HH2s2xL").pack     # explicit VR, reserved, 32-bit length
_IMPLICIT_HEADER = struct.Struct("<HHL").pack
_SEQ_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
_ITEM_HEADER = _IMPLICIT_HEADER  # (FFFE,E000) and a 32-bit length, whatever the syntax
_ITEM_UNDEFINED = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)

stats = {"fast": 0, "pydicom": 0}  # how many datasets took each path (tests look at this)


def dcmwrite_bytes(ds) -> bytes:
    """The bytes `pydicom.dcmwrite(buffer, ds, enforce_file_format=True)` would write.

    Like dcmwrite, it may leave ds["PixelData"] converted from raw (with is_undefined_length set
    from the transfer syntax); it changes nothing else of `ds`."""
    plan = _plan(ds)
    if plan is None:
        stats["pydicom"] += 1
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
        return out.getvalue()
    stats["fast"] += 1
    file_meta, tsyntax, implicit = plan
    parts = [getattr(ds, "preamble", None) or b"\x00" * 128, b"DICM", _file_meta(file_meta)]
    encoding = ds.get("SpecificCharacterSet", pydicom.charset.default_encoding)
    _encode(ds, implicit, encoding, _plain(encoding), parts.append, tsyntax)
    return b"".join(parts)


def _plain(encoding) -> bool:
    return (encoding if type(encoding) is str else "\\".join(encoding)).strip() in _PLAIN_CHARSETS


def _file_meta(file_meta) -> bytes:
    """write_file_meta_info(enforce_standard=True) of an already validated file meta: the group
    length first, counting the elements after it, all in explicit VR little endian."""
    recoded = file_meta.original_encoding != (False, True) or file_meta.original_character_set != file_meta._character_set
    if recoded and any(type(e) is RawDataElement for e in file_meta._dict.values()):
        head = DicomBytesIO()  # pydicom would convert (and re-encode) its raw elements
        head.is_implicit_VR, head.is_little_endian = False, True
        write_file_meta_info(head, file_meta, enforce_standard=True)
        return head.getvalue()
    parts = []
    encoding = file_meta.get("SpecificCharacterSet", pydicom.charset.default_encoding)
    _encode(file_meta, False, encoding, _plain(encoding), parts.append, None, skip=0x00020000)
    rest = b"".join(parts)
    return _SHORT_HEADER(0x0002, 0x0000, b"UL", 4) + struct.pack("<L", len(rest)) + rest


def _encode(ds, implicit: bool, encoding, plain_text: bool, append, tsyntax, skip=None) -> None:
    """write_dataset(fp, ds) as parts handed to `append`. `tsyntax`: the file's transfer syntax
    for the top-level dataset (its Pixel Data is marked undefined-length when compressed, as
    dcmwrite does), None for a sequence item or the file meta."""
    d = ds._dict
    for key in sorted(d, key=int):  # plain ints: BaseTag compares in Python
        tag = int(key)
        if tag & 0xFFFF == 0 and tag >> 16 > 6 or tag == skip:  # retired group lengths are not written
            continue
        e = d[key]
        if tag == _PIXEL_DATA and tsyntax is not None:
            e = ds[key]  # dcmwrite converts it to set is_undefined_length from the syntax
            e.is_undefined_length = undefined = tsyntax.is_compressed
            value = e.value
            # write_OBvalue / write_OWvalue: the bytes, padded to even length; encapsulated data
            # must start with an item tag (pydicom's writer raises otherwise)
            if type(value) is bytes and e.VR in ("OB", "OW") and (
                    not undefined or value.startswith(b"\xfe\xff\x00\xe0")):
                pad = b"\x00" if len(value) & 1 else b""
                length = 0xFFFFFFFF if undefined else len(value) + len(pad)
                if implicit:
                    append(_IMPLICIT_HEADER(0x7FE0, 0x0010, length))
                else:
                    append(_LONG_HEADER(0x7FE0, 0x0010, e.VR.encode("ascii"), length))
                append(value)
                if pad:
                    append(pad)
                if undefined:
                    append(_SEQ_DELIMITER)
                continue
            append(_pydicom_element(e, implicit, encoding))
            continue
        if type(e) is RawDataElement:
            value = e.value
            if value is not None:
                undefined = e.length == 0xFFFFFFFF
                if implicit:
                    append(_IMPLICIT_HEADER(tag >> 16, tag & 0xFFFF, 0xFFFFFFFF if undefined else len(value)))
                    append(value)
                    if undefined:
                        append(_SEQ_DELIMITER)
                    continue
                vr = e.VR
                if vr is not None and len(vr) == 2:
                    if vr in _LONG_VRS:
                        append(_LONG_HEADER(tag >> 16, tag & 0xFFFF, vr.encode("ascii"),
                                            0xFFFFFFFF if undefined else len(value)))
                        append(value)
                        if undefined:
                            append(_SEQ_DELIMITER)
                        continue
                    if not undefined and len(value) <= 0xFFFF:
                        append(_SHORT_HEADER(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), len(value)))
                        append(value)
                        continue
        elif type(e) is DataElement:
            if e.VR == "SQ":
                if _sequence(e, implicit, encoding, plain_text, append):
                    continue
            else:
                value = _simple_value(e, plain_text)
                if value is not None:
                    if implicit:
                        append(_IMPLICIT_HEADER(tag >> 16, tag & 0xFFFF, len(value)))
                    elif e.VR in _LONG_VRS:
                        append(_LONG_HEADER(tag >> 16, tag & 0xFFFF, e.VR.encode("ascii"), len(value)))
                    else:
                        append(_SHORT_HEADER(tag >> 16, tag & 0xFFFF, e.VR.encode("ascii"), len(value)))
                    append(value)
                    continue
        append(_pydicom_element(ds.get_item(key), implicit, encoding))


def _sequence(e, implicit: bool, encoding, plain_text: bool, append) -> bool:
    """write_data_element of a converted sequence (write_sequence, write_sequence_item: items of
    defined length unless marked undefined, the sequence's length defined unless it was read
    undefined). False, with nothing appended, when an item would not be written as it was read
    (another encoding or character set): pydicom's writer then writes the whole sequence."""
    items = e.value
    for item in items:
        if item.original_encoding != (implicit, True) or item.original_character_set != item._character_set:
            return False
    parent = convert_encodings(encoding)  # what write_sequence_item hands each item
    body = []
    for item in items:
        item_encoding = item.get("SpecificCharacterSet", parent)
        parts = []
        _encode(item, implicit, item_encoding, _plain(item_encoding) if 0x00080005 in item._dict else plain_text,
                parts.append, None)
        value = b"".join(parts)
        if getattr(item, "is_undefined_length_sequence_item", False):
            body += (_ITEM_UNDEFINED, value, _ITEM_DELIMITER)
        else:
            body += (_ITEM_HEADER(0xFFFE, 0xE000, len(value)), value)
    value = b"".join(body)
    tag = int(e.tag)
    length = 0xFFFFFFFF if e.is_undefined_length else len(value)
    if implicit:
        append(_IMPLICIT_HEADER(tag >> 16, tag & 0xFFFF, length))
    else:
        append(_LONG_HEADER(tag >> 16, tag & 0xFFFF, b"SQ", length))
    append(value)
    if e.is_undefined_length:
        append(_SEQ_DELIMITER)
    return True


def _simple_value(e, plain_text: bool) -> bytes | None:
    """The encoded value of a converted element, as pydicom's writer for its VR would encode it,
    for the few shapes that are common and unambiguous: a UID or code string, a short text in a
    single-byte or UTF-8 character set (ASCII only), one integer. None for anything else (the
    element then goes through pydicom's writer)."""
    if e.is_undefined_length:
        return None
    vr = e.VR
    if vr not in _LONG_VRS and vr not in _SHORT_VRS:
        return None  # ambiguous ("US or SS") or unknown: pydicom says what is wrong
    if e.is_empty:
        return b""  # pydicom writes no value for an empty element, whatever its VR
    kind = _SIMPLE.get(vr)
    if kind is None:
        return None
    v = e.value
    if kind == "pn":  # write_PN: PersonName.encode; for one ASCII component group, its text
        if type(v) is not PersonName or not plain_text:
            return None
        text = str(v)
        if "=" in text or not text.isascii():
            return None
        raw = text.encode("ascii")
        if v.original_string is not None and v.original_string != raw:
            return None
        return raw + b" " if len(raw) & 1 else raw
    if kind == "int":
        if type(v) is not int:
            return None
        try:
            return _INT_PACK[vr](v)
        except struct.error:
            return None  # pydicom raises its own error for this
    if type(v) is MultiValue:
        if not all(type(x) is str or type(x) is UID for x in v):
            return None
        v = "\\".join(v)
    elif type(v) is not str and type(v) is not UID:
        return None
    if not v.isascii() or (kind == "text" and not plain_text):
        return None
    if len(v) & 1:
        v += "\0" if vr == "UI" else " "
    if len(v) > 0xFFFF and vr not in _LONG_VRS:
        return None  # pydicom writes it as UN, with a warning
    return v.encode("ascii")


# VR → how pydicom writes it: write_string ("string"; UI pads with NUL), write_text ("text":
# encoded in the dataset's character set, so only where ASCII stays ASCII), write_numbers ("int")
_SIMPLE = {"UI": "string", "CS": "string", "AE": "string", "AS": "string", "UR": "string",
           "DA": "string", "DT": "string", "TM": "string",  # a str value: write_DA/DT/TM call write_string
           "LO": "text", "SH": "text", "LT": "text", "ST": "text", "UC": "text", "UT": "text",
           "PN": "pn",
           "US": "int", "UL": "int", "SS": "int", "SL": "int"}
_INT_PACK = {vr: struct.Struct("<" + f).pack for vr, f in (("US", "H"), ("UL", "L"), ("SS", "h"), ("SL", "l"))}
# character sets in which an ASCII text encodes as ASCII, without escape sequences
_PLAIN_CHARSETS = frozenset(("", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 144",
                             "ISO_IR 127", "ISO_IR 126", "ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 192",
                             "ISO 2022 IR 6", "ISO 2022 IR 100", "iso8859"))


def _pydicom_element(elem, implicit: bool, encoding) -> bytes:
    """One element encoded by pydicom's writer, as write_dataset would call it."""
    buf = DicomBytesIO()
    buf.is_implicit_VR, buf.is_little_endian = implicit, True
    write_data_element(buf, elem, encoding)
    return buf.getvalue()


def _copy_meta(fm) -> FileMetaDataset:
    """What dcmwrite's deepcopy of the file meta gives for writing, cheaper: the same raw
    elements (immutable), copies of the converted ones (validate_file_meta and the UID updates
    below change values in place), the same encoding attributes."""
    out = FileMetaDataset()
    d = out._dict
    for tag, e in fm._dict.items():
        d[tag] = e if type(e) is RawDataElement else copy(e)
    for name in _META_ATTRS:
        if name in fm.__dict__:
            out.__dict__[name] = fm.__dict__[name]
    return out


_META_ATTRS = ("_read_little", "_read_implicit", "_read_charset", "_is_little_endian", "_is_implicit_VR",
               "_parent_encoding")


def _plan(ds):
    """(file meta as dcmwrite would write it, transfer syntax, implicit VR) when the fast path
    writes exactly what dcmwrite would; None otherwise."""
    if any((t >> 16) in (0, 2) for t in ds._dict):
        return None  # dcmwrite refuses these; let it say so
    fm = getattr(ds, "file_meta", None)
    if fm is None:
        return None
    tsyntax = fm.get("TransferSyntaxUID", None)
    if tsyntax is None or tsyntax.is_private or not tsyntax.is_transfer_syntax:
        return None
    if tsyntax == DeflatedExplicitVRLittleEndian or not tsyntax.is_little_endian:
        return None
    implicit = tsyntax.is_implicit_VR
    if ds.original_encoding != (implicit, True):
        return None  # pydicom would correct ambiguous VRs and convert raw elements
    if ds.original_character_set != ds._character_set:
        return None  # pydicom would re-encode text in the new character set
    preamble = getattr(ds, "preamble", None)
    if preamble and len(preamble) != 128:
        return None
    if type(fm) is not FileMetaDataset:
        return None
    file_meta = _copy_meta(fm)
    meta_class = file_meta.get("MediaStorageSOPClassUID", None)
    ds_class = ds.get("SOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        file_meta.MediaStorageSOPClassUID = ds_class
    meta_instance = file_meta.get("MediaStorageSOPInstanceUID", None)
    ds_instance = ds.get("SOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        file_meta.MediaStorageSOPInstanceUID = ds_instance
    try:
        validate_file_meta(file_meta, enforce_standard=True)
    except (ValueError, AttributeError):
        return None  # dcmwrite raises its own error for this
    return file_meta, tsyntax, implicit
