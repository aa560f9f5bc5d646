"""Encode a dataset as pydicom's `dcmwrite(..., enforce_file_format=True)` does, faster.

After de-identification almost every element of a file is still a `RawDataElement`: the bytes it
was read as (the engine writes its replacements as raw elements too). pydicom's writer spends
~20 µs on each element whatever it is (a buffer object, encoding checks, two writes); for the
~250 elements of a CT that is 2.3 ms, most of the cost of de-identifying it. Here a raw element
whose bytes can be written unchanged is written as one header (packed with `struct`) and its
value; everything else — converted elements, sequences that were walked, Pixel Data, a raw value
pydicom would re-encode — goes through pydicom's own `write_data_element` with the arguments
`write_dataset` would give it. The preamble and File Meta Information are pydicom's too
(`validate_file_meta`, `write_file_meta_info`), after the same updates `dcmwrite` makes.

Any dataset outside the fast path's preconditions (big endian, deflated, a private or missing
transfer syntax, a changed encoding or character set, group 0000/0002 elements in the dataset)
is written by `pydicom.dcmwrite` itself. The output is byte-for-byte what `dcmwrite` writes:
`tests/deid/test_fastwrite.py` compares the two on every file of pydicom's test data, as read
and after de-identification, and on the synthetic corpus.
"""
from __future__ import annotations

import io
import struct
from copy import deepcopy

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import validate_file_meta, write_data_element, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)
_SHORT_HEADER = struct.Struct("<HH2sH").pack      # explicit VR, 16-bit length
_LONG_HEADER = struct.Struct("<HH2s2xL").pack     # explicit VR, reserved, 32-bit length
_IMPLICIT_HEADER = struct.Struct("<HHL").pack
_SEQ_DELIMITER = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)

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
    head = DicomBytesIO()
    head.is_implicit_VR, head.is_little_endian = implicit, True
    preamble = getattr(ds, "preamble", None) or b"\x00" * 128
    head.write(preamble)
    head.write(b"DICM")
    write_file_meta_info(head, file_meta, enforce_standard=True)
    parts = [head.getvalue()]
    append = parts.append
    d = ds._dict
    encoding = ds.get("SpecificCharacterSet", pydicom.charset.default_encoding)
    for key in sorted(d, key=int):  # plain ints: BaseTag compares in Python
        tag = int(key)
        if tag & 0xFFFF == 0 and tag >> 16 > 6:  # retired group lengths are not written
            continue
        e = d[key]
        if tag == _PIXEL_DATA:
            e = ds[key]  # dcmwrite converts it to set is_undefined_length from the syntax
            e.is_undefined_length = tsyntax.is_compressed
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
        append(_pydicom_element(ds.get_item(key), implicit, encoding))
    return b"".join(parts)


def _pydicom_element(elem, implicit: bool, encoding) -> bytes:
    """One element encoded by pydicom's writer, as write_dataset would call it."""
    buf = DicomBytesIO()
    buf.is_implicit_VR, buf.is_little_endian = implicit, True
    write_data_element(buf, elem, encoding)
    return buf.getvalue()


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
    file_meta = deepcopy(fm) if isinstance(fm, FileMetaDataset) else None
    if file_meta is None:
        return None
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
