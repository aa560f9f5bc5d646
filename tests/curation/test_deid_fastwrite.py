"""The fast DICOM writer writes exactly what pydicom's dcmwrite writes.

`curation.deid.fastwrite.dcmwrite_bytes` is what intake and corrections store. Its promise is
byte-for-byte equality with `pydicom.dcmwrite(..., enforce_file_format=True)` on the same dataset
(or the same exception); each case below also checks the fast path was the one taken, so a
writer that always fell back to pydicom would not pass."""
import io
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataelem import DataElement

from curation.deid import Deidentifier, fastwrite
from curation.deid.engine import encode_dicom


def _reference(ds):
    out = io.BytesIO()
    try:
        pydicom.dcmwrite(out, ds, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - the comparison is of outcomes
        return ("raises", type(exc))
    return out.getvalue()


def _fast(ds):
    try:
        return fastwrite.dcmwrite_bytes(ds)
    except Exception as exc:  # noqa: BLE001
        return ("raises", type(exc))


def _pair(path, change=None):
    """Two independent reads of one file (dcmwrite changes the dataset it writes), each changed
    the same way; None when pydicom cannot read it."""
    out = []
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, force=True)
                if change is not None:
                    change(ds)
            except Exception:  # noqa: BLE001 - unreadable samples are not this test's subject
                return None
        out.append(ds)
    return out


def _compare(path, change=None):
    pair = _pair(path, change)
    if pair is None:
        return None
    ref_ds, fast_ds = pair
    before = fastwrite.stats["fast"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, got = _reference(ref_ds), _fast(fast_ds)
    assert got == ref, f"{path}: fast writer differs from dcmwrite"
    return fastwrite.stats["fast"] > before


ENGINE = Deidentifier(secret=b"fastwrite-test")


def _deidentify(ds):
    ENGINE.deidentify_dataset(ds)


@pytest.mark.parametrize("change", [None, _deidentify], ids=["as read", "de-identified"])
def test_every_pydicom_sample_is_written_as_dcmwrite_writes_it(change):
    compared = fast = 0
    for path in get_testdata_files():
        took_fast = _compare(path, change)
        if took_fast is None:
            continue
        compared += 1
        fast += took_fast
    assert compared > 100
    assert fast > compared * 0.7, f"the fast path wrote only {fast} of {compared} files"


def test_synthetic_corpus_after_deidentification(tmp_path):
    from curation.dicom.synth import write_corpus

    paths = write_corpus(tmp_path, 12, patients=3)
    assert all(_compare(p, _deidentify) for p in paths)


@pytest.mark.parametrize("name", [
    "CT_small.dcm",          # explicit VR little endian, private elements
    "MR_small_implicit.dcm",  # implicit VR
    "JPEG2000.dcm",          # encapsulated pixel data (undefined length)
    "rtplan.dcm",            # nested sequences
])
def test_changed_elements_sequences_and_encodings(name):
    path = get_testdata_file(name, download=False)

    def change(ds):
        ENGINE.deidentify_dataset(ds)
        ds.StudyDescription = "Changed ÄÖ"      # a converted element written by pydicom's writer
        ds[0x00091001] = DataElement(0x00091001, "LO", "x")  # a new one beside raw ones
        ds.add_new(0x00081030, "LO", "a" * 7)    # odd length: padded by pydicom
        ds.ImageComments = "c" * 70000           # > 64 KiB in a 16-bit-length VR: written as UN by pydicom
        ds.PatientName = "Doe^John^^Dr"          # a converted person name
        ds.OperatorsName = ["A^B", "Yamada^Tarou=山田^太郎"]  # several, one with ideographic groups
        ds.ReferringPhysicianName = ""
        ds.Rows = 1 if "Rows" in ds else None
        ds.SeriesDescription = ["one", "two"]    # a multi-valued text
        ds.AcquisitionDate = "20000101"          # a date given as text

    assert _compare(path, change) is True


def test_falls_back_to_pydicom_where_the_fast_path_would_differ():
    path = get_testdata_file("CT_small.dcm", download=False)

    def recode(ds):
        ds.SpecificCharacterSet = "ISO_IR 192"  # text would be re-encoded by pydicom

    assert _compare(path, recode) is False

    def big_endian(ds):
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian

    assert _compare(path, big_endian) is False


def test_encode_dicom_names_a_syntax_for_a_dataset_without_one():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    del ds.file_meta.TransferSyntaxUID
    data = encode_dicom(ds)
    back = pydicom.dcmread(io.BytesIO(data))
    assert back.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert back.PixelData == ds.PixelData


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "MR_small_bigendian.dcm"])
def test_the_method_sequence_set_raw_is_pydicoms_encoding_of_it(name):
    """The engine sets DeidentificationMethodCodeSequence as bytes encoded once; a file written with
    it equals the file written with the sequence as pydicom's DataElement, and reading it back gives
    the same codes."""
    from pydicom.dataelem import RawDataElement
    from pydicom.sequence import Sequence

    path = get_testdata_file(name, download=False)
    ds, twin = pydicom.dcmread(path), pydicom.dcmread(path)
    ENGINE.deidentify_dataset(ds)
    ENGINE.deidentify_dataset(twin)
    assert type(ds._dict[0x00120064]) is RawDataElement
    twin._dict[0x00120064] = DataElement(0x00120064, "SQ", Sequence(ENGINE._method_items()))
    assert _reference(ds) == _reference(twin)
    codes = [(item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) for item in ds.DeidentificationMethodCodeSequence]
    assert codes == [(item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) for item in ENGINE._method_items()]
    assert ("113100", "DCM") in [c[:2] for c in codes]  # Basic Application Confidentiality Profile


def test_writing_leaves_the_callers_file_meta_as_it_was():
    """dcmwrite writes the dataset's SOP Instance UID into the file meta of the file, not into the
    dataset's own file meta; so does the fast writer (it copies the converted elements it changes)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"  # converted, and not the dataset's UID
    ds.file_meta.ImplementationVersionName = "BEFORE"
    data = fastwrite.dcmwrite_bytes(ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.4"
    assert ds.file_meta.ImplementationVersionName == "BEFORE"
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_the_element_report_of_the_raw_method_sequence_is_that_of_its_items():
    """The report reads the engine's own raw sequence from the items it encodes (no parse); what it
    reports is what reading the written file back reports, and the dataset keeps the raw element."""
    from pydicom.dataelem import RawDataElement

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ENGINE.deidentify_dataset(ds)
    reported = Deidentifier.elements(ds)
    assert type(ds._dict[0x00120064]) is RawDataElement
    back = pydicom.dcmread(io.BytesIO(encode_dicom(ds)))
    again = Deidentifier.elements(back)
    method = [e for e in reported if e[0].startswith("(0012,0064)")]
    assert len(method) >= 3 and method == [e for e in again if e[0].startswith("(0012,0064)")]
