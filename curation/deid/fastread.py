"""Reading a DICOM file's bytes into the dataset `pydicom.dcmread` makes of them, faster.

`read_bytes(data)` returns what `pydicom.dcmread(io.BytesIO(data))` returns (a FileDataset of
the same elements: the same RawDataElements, with the same tags, VRs, lengths, values and file
positions; the same file meta, preamble and original encoding), or None when the file is not of
the shape it reads, and the caller then reads it with pydicom. Its shape: a preamble and "DICM",
file meta that pydicom reads (pydicom's own reader does), no command set, and a data set in
explicit VR little endian (Explicit VR Little Endian and the encapsulated syntaxes) whose
elements all carry a VR pydicom knows.

pydicom's element generator reads each element with two or three calls on a file object; this
one unpacks the header straight from the bytes and slices the value (the same bytes
`fp.read(length)` returns). Undefined-length elements (sequences, encapsulated Pixel Data) are
read by pydicom's own functions from that position, as pydicom reads them.
`tests/curation/test_deid_fastread.py` compares the two on every pydicom sample and on the
synthetic corpus.
"""
import io
from struct import Struct, error as StructError

from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import _dictionary_vr_fast
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset
from pydicom.filereader import _read_file_meta_info, read_sequence, read_undefined_length_value
from pydicom.tag import BaseTag, ItemTag, SequenceDelimiterTag
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian,
                         PrivateTransferSyntaxes)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR as VR_
from pydicom.values import convert_string

_HEAD = Struct("<HH2sH").unpack_from
_LONG = Struct("<L").unpack_from
_TAG = Struct("<HH").unpack_from
_VRS = {}  # VR bytes → (VR, 4-byte length, the raw empty value pydicom gives a zero-length element)
for _vr in VR_:
    _VRS[_vr.value.encode()] = (_vr.value, _vr.value in EXPLICIT_VR_LENGTH_32, empty_value_for_VR(_vr.value, raw=True))
_NOT_EXPLICIT_LE = frozenset((ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian))


class _Fallback(Exception):
    """Not a file this reader takes: pydicom reads it."""


def read_bytes(data: bytes) -> FileDataset | None:
    """The dataset pydicom.dcmread(io.BytesIO(data)) reads, or None (read it with pydicom)."""
    if len(data) < 140 or data[128:132] != b"DICM":
        return None
    fp = io.BytesIO(data)
    fp.seek(132)
    try:
        file_meta = _read_file_meta_info(fp)
    except Exception:  # noqa: BLE001 - pydicom says why when it reads the file itself
        return None
    pos = fp.tell()
    if pos + 8 > len(data) or data[pos:pos + 2] == b"\x00\x00":
        return None  # no data set, or a command set: pydicom's way
    syntax = file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax in _NOT_EXPLICIT_LE or syntax in PrivateTransferSyntaxes:
        return None
    try:
        elements = _elements(data, pos, fp)
    except (_Fallback, EOFError, StructError, NotImplementedError):
        return None
    dataset = Dataset(elements, parent_encoding=default_encoding)
    charset = elements.get(0x00080005)
    encoding = (convert_encodings(convert_raw_data_element(charset).value) if charset is not None
                else default_encoding)
    dataset.set_original_encoding(False, True, encoding)
    fp.seek(0)
    ds = FileDataset(fp, dataset, data[:128], file_meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds


def _elements(data: bytes, pos: int, fp) -> dict:
    """{tag: element} of the top-level data set from `pos`: what pydicom's read_dataset
    collects from data_element_generator (explicit VR, little endian, no deferred values)."""
    out = {}
    end = len(data)
    encoding = default_encoding
    vrs, head, long_ = _VRS, _HEAD, _LONG
    while pos + 8 <= end:
        group, elem, raw_vr, length = head(data, pos)
        known = vrs.get(raw_vr)
        if known is None:
            raise _Fallback  # an unknown VR or a switch to implicit VR: pydicom's heuristics
        vr, long_length, empty = known
        pos += 8
        if long_length:
            if pos + 4 > end:
                raise _Fallback
            length = long_(data, pos)[0]
            pos += 4
        tag = group << 16 | elem
        if tag == 0xFFFEE00D:
            break
        if length != 0xFFFFFFFF:
            if length > 0:
                value = data[pos:pos + length]
            else:
                value = empty if not config.use_none_as_empty_text_VR_value else empty_value_for_VR(vr, raw=True)
            if tag == 0x00080005:
                encoding = convert_encodings(convert_string(value or b"", True))
            t = BaseTag(tag)
            out[t] = RawDataElement(t, vr, length, value, pos, False, True)
            pos += length
            continue
        # undefined length: as pydicom's generator reads it, with pydicom's functions
        value_tell = pos
        if vr == VR_.UN and config.settings.infer_sq_for_un_vr:
            vr = VR_.SQ
        if vr == VR_.UN and config.replace_un_with_known_vr:
            try:
                vr = _dictionary_vr_fast(tag)
            except KeyError:
                if pos + 4 > end:
                    raise _Fallback from None
                g, e = _TAG(data, pos)
                if (g << 16 | e) == ItemTag:
                    vr = VR_.SQ
        fp.seek(pos)
        t = BaseTag(tag)
        if vr == VR_.SQ:
            seq = read_sequence(fp, False, True, length, encoding)
            out[t] = DataElement(t, vr, seq, value_tell, is_undefined_length=True)
        else:
            value = read_undefined_length_value(fp, True, SequenceDelimiterTag, None)
            out[t] = RawDataElement(t, vr, length, value, value_tell, False, True)
        pos = fp.tell()
    return out
