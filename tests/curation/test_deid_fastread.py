"""The fast reader reads exactly the dataset pydicom's dcmread reads.

`curation.deid.fastread.read_bytes` is how intake parses a received file. Its promise: for a file
it takes, the same FileDataset as `pydicom.dcmread(io.BytesIO(data))`: the same elements in the
same order (each RawDataElement equal field by field: tag, VR, length, value bytes, file
position, encoding flags; sequences read by pydicom alike, item by item), the same file meta,
preamble and encoding; for any other file, None. The cases check that the fast path was taken
on enough files that a reader always answering None would not pass."""
import io
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataelem import RawDataElement

from curation.deid import fastread, read_dicom


def _same_dataset(a, b, where="") -> None:
    assert type(a) is type(b), where
    assert list(a._dict) == list(b._dict), where
    for tag in a._dict:
        x, y = a._dict[tag], b._dict[tag]
        here = f"{where}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        assert type(x) is type(y), here
        assert type(x.tag) is type(y.tag), here
        if isinstance(x, RawDataElement):
            assert tuple(x) == tuple(y), here
            continue
        assert (x.VR, x.file_tell, x.is_undefined_length) == (y.VR, y.file_tell, y.is_undefined_length), here
        if x.VR == "SQ":
            assert len(x.value) == len(y.value), here
            assert x.value.is_undefined_length == y.value.is_undefined_length, here
            for i, (ia, ib) in enumerate(zip(x.value, y.value)):
                assert ia.file_tell == ib.file_tell, here
                assert ia.is_undefined_length_sequence_item == ib.is_undefined_length_sequence_item, here
                _same_dataset(ia, ib, f"{here}[{i}]")
        else:
            assert x.value == y.value, here
    assert a.original_encoding == b.original_encoding, where
    assert a._character_set == b._character_set, where
    assert getattr(a, "_parent_encoding", None) == getattr(b, "_parent_encoding", None), where


def _values(ds):
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for e in ds.iterall():
                value = None if e.VR == "SQ" else e.value
                out.append((e.tag, e.VR, "NaN" if value != value else value))
        except Exception as exc:  # noqa: BLE001 - a damaged file: the comparison is of outcomes
            out.append(("raises", type(exc)))
    return out


def _compare(data: bytes):
    """True when the fast reader took the file (and read what pydicom reads), False when it left
    it to pydicom."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = fastread.read_bytes(data)
        if fast is None:
            return False
        ref = pydicom.dcmread(io.BytesIO(data))
    assert type(fast) is type(ref)
    assert fast.preamble == ref.preamble
    assert fast.filename == ref.filename and fast.fileobj_type is ref.fileobj_type
    _same_dataset(fast.file_meta, ref.file_meta, "meta ")
    _same_dataset(fast, ref)
    assert sorted(vars(fast)) == sorted(vars(ref))
    # and they convert alike: every value as pydicom sees it (or the same exception)
    assert _values(fast) == _values(ref)
    return True


def _samples():
    """Every file of pydicom's bundled test data (nothing downloaded)."""
    import os

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "download failures": the optional extra files are not fetched
        return [p for p in get_testdata_files() if os.path.isfile(p)]


def test_every_pydicom_sample_reads_as_pydicom_reads_it():
    taken = 0
    for path in _samples():
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pydicom.dcmread(io.BytesIO(data))
        except Exception:  # noqa: BLE001 - pydicom cannot read it: the reader leaves it to pydicom
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert fastread.read_bytes(data) is None, path
            continue
        taken += _compare(data)
    assert taken >= 100, taken  # explicit VR little endian samples: most of them


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtdose_rle.dcm", "JPEG2000.dcm", "JPEG2000-embedded-sequence-delimiter.dcm", "liver_1frame.dcm"])
def test_known_samples_take_the_fast_path(name):
    with open(get_testdata_file(name, download=False), "rb") as fh:
        assert _compare(fh.read())


def test_other_encodings_are_left_to_pydicom():
    for name in ("MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm"):
        with open(get_testdata_file(name, download=False), "rb") as fh:
            assert fastread.read_bytes(fh.read()) is None, name
    assert fastread.read_bytes(b"\0" * 200) is None  # no DICM


def test_truncated_and_damaged_files_read_as_pydicom_reads_them():
    with open(get_testdata_file("CT_small.dcm", download=False), "rb") as fh:
        data = fh.read()
    for cut in (400, 1000, 2000, len(data) - 100, len(data) - 1):
        _compare(data[:cut])
    damaged = bytearray(data)
    damaged[700:702] = b"\x01\x02"  # a VR no one knows
    _compare(bytes(damaged))  # taken (then read as pydicom reads it) or left to pydicom


def test_synthetic_corpus_and_its_deidentified_files(tmp_path):
    from curation.deid import Deidentifier
    from curation.deid.engine import encode_dicom
    from curation.dicom.synth import write_corpus

    engine = Deidentifier(secret=b"t")
    for path in write_corpus(tmp_path, 6):
        data = path.read_bytes()
        assert _compare(data)
        ds = read_dicom(data, path.name)
        engine.deidentify_dataset(ds, source=path.name)
        assert _compare(encode_dicom(ds))


def test_undefined_length_sequences_and_encapsulated_pixels():
    """Items and sequences of undefined length, and encapsulated Pixel Data, are read by
    pydicom's own functions from where the fast loop stands."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm", download=False))
    item = Dataset()
    item.CodeValue = "1"
    item.CodeMeaning = "x" * 3
    ds.ProcedureCodeSequence = Sequence([item, item])
    ds["ProcedureCodeSequence"].is_undefined_length = True
    ds.ProcedureCodeSequence.is_undefined_length = True
    for it in ds.ProcedureCodeSequence:
        it.is_undefined_length_sequence_item = True
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    assert _compare(out.getvalue())


def test_intake_reads_with_the_fast_reader(monkeypatch):
    """read_dicom uses the fast reader for bytes it takes (and pydicom for the rest)."""
    calls = []
    real = fastread.read_bytes
    monkeypatch.setattr(fastread, "read_bytes", lambda data: calls.append(1) or real(data))  # engine reads it via the module
    with open(get_testdata_file("CT_small.dcm", download=False), "rb") as fh:
        ds = read_dicom(fh.read(), "x.dcm")
    assert calls and ds.PatientName == pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False)).PatientName
