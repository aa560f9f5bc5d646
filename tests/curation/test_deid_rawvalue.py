"""The engine's element report decodes raw values itself (curation.deid.rawvalue) instead of
asking pydicom to convert each element: it must report what pydicom's conversion reports."""
import copy
import io

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataelem import RawDataElement

from curation.checks.facts import _jsonable
from curation.checks.fixes import value_text
from curation.deid import Deidentifier, Profile, SubjectMap
from curation.deid.engine import BULK_TAGS, Deidentifier as Engine, write_dicom
from curation.deid.private import normalize_creator
from curation.deid.rawvalue import NOT_DECODED, charset_of, decode


def reference_report(ds):
    """What the report was before rawvalue: every element converted by pydicom (ds[tag])."""
    out = []

    def walk(ds, prefix):
        d = ds._dict
        creators = {}
        for tag in sorted(d):
            grp, el = tag >> 16, tag & 0xFFFF
            if tag in BULK_TAGS:
                out.append((f"{prefix}({grp:04X},{el:04X})", d[tag].VR or "OW", None))
                continue
            e = ds[tag]
            if grp & 1 and el >= 0x1000:
                key = (grp, el >> 8)
                if key not in creators:
                    ct = (grp << 16) | (el >> 8)
                    creators[key] = normalize_creator(ds[ct].value) if ct in d else ""
                p = f'{prefix}({grp:04X},"{creators[key]}",{el & 0xFF:02x})'
            else:
                p = f"{prefix}({grp:04X},{el:04X})"
            if e.VR == "SQ":
                for i, item in enumerate(e.value):
                    walk(item, f"{p}[{i}]")
                continue
            v = e.value
            if isinstance(v, (bytes, bytearray)) and len(v) > 1024:
                v = None
            out.append((p, e.VR, v))

    fm = getattr(ds, "file_meta", None)
    if fm is not None:
        walk(fm, "")
    walk(ds, "")
    return out


def fast_report(ds):
    out = []
    Engine.report(ds, lambda p, vr, v: out.append((p, vr, v)))
    return out


def comparable(rows):
    """What the hooks use of a value: the PHI report's text, the checks' JSON form, None or not."""
    return [(p, vr, v is None, value_text(v), _jsonable(v)) for p, vr, v in rows]


def sample_files():
    seen = []
    for path in sorted(get_testdata_files("*.dcm")):
        try:
            ds = pydicom.dcmread(path, force=True)
            ds.file_meta  # noqa: B018 - some samples have none
            reference_report(ds)
        except Exception:  # noqa: BLE001 - samples that pydicom itself cannot read fully
            continue
        seen.append(path)
    return seen


SAMPLES = sample_files()


def test_there_are_many_samples():
    assert len(SAMPLES) > 50


@pytest.mark.parametrize("path", SAMPLES, ids=[p.rsplit("/", 1)[-1] for p in SAMPLES])
def test_report_equals_pydicom_conversion(path):
    fast = comparable(fast_report(pydicom.dcmread(path, force=True)))
    reference = comparable(reference_report(pydicom.dcmread(path, force=True)))
    assert fast == reference


def test_report_leaves_plain_elements_raw():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    fast_report(ds)
    raw = [t for t, e in ds._dict.items() if type(e) is RawDataElement]
    assert ds._dict[0x00100010].__class__ is RawDataElement  # PatientName
    assert len(raw) > len(ds._dict) * 0.8


def test_report_after_deidentification_equals_pydicom_conversion():
    engine = Deidentifier(profile=Profile.tcia_default(), secret=b"t", subjects=SubjectMap(prefix="T", seed=1))
    for name in ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "waveform_ecg.dcm", "JPEG2000.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        engine.deidentify_dataset(ds)
        twin = copy.deepcopy(ds)
        assert comparable(fast_report(ds)) == comparable(reference_report(twin)), name
        out_fast, out_ref = io.BytesIO(), io.BytesIO()
        write_dicom(ds, out_fast)
        write_dicom(twin, out_ref)
        assert out_fast.getvalue() == out_ref.getvalue(), name  # reporting does not change what is written


def raw(vr, data, little=True):
    return RawDataElement(0x00091010, vr, len(data), data, 0, False, little)


@pytest.mark.parametrize("vr, data, expected", [
    ("LO", b"A\\B ", ["A", "B"]),
    ("LO", b" lead ", " lead"),
    ("LT", b"a\\b  ", "a\\b"),
    ("DS", b" 1.50\\2 ", ["1.50", "2"]),
    ("IS", b"007 ", "007"),
    ("UI", b"1.2.3\x00", "1.2.3"),
    ("US", b"\x01\x00\x02\x00", [1, 2]),
    ("FD", b"\x00" * 8, 0.0),
    ("AE", b" AE1 ", "AE1"),
    ("PN", b"Doe^J\\Roe ", ["Doe^J", "Roe"]),
    ("DS", b"", None),
    ("SH", b"", ""),
])
def test_decode_matches_pydicom(vr, data, expected):
    element = raw(vr, data)
    assert decode(element, vr, "latin-1") == expected
    converted = pydicom.dataelem.convert_raw_data_element(element)
    assert value_text(converted.value) == value_text(expected)


@pytest.mark.parametrize("vr, data", [
    ("DS", b"1.5\\abc"),    # not a number: pydicom's retry rules apply
    ("IS", b"1\\ \\2"),     # blank item: pydicom keeps it unstripped
    ("US", b"\x01\x00\x02"),  # odd length
    ("AT", b"\x08\x00\x10\x00"),
])
def test_unusual_values_are_left_to_pydicom(vr, data):
    assert decode(raw(vr, data), vr, "latin-1") is NOT_DECODED


def test_text_in_an_unknown_character_set_is_left_to_pydicom():
    cs = RawDataElement(0x00080005, "CS", 10, b"ISO_IR 144", 0, False, True)
    assert charset_of(cs) is None
    assert decode(raw("PN", b"\xbf\xd5"), "PN", charset_of(cs)) is NOT_DECODED
    utf8 = RawDataElement(0x00080005, "CS", 10, b"ISO_IR 192", 0, False, True)
    assert decode(raw("LO", "Müller".encode()), "LO", charset_of(utf8)) == "Müller"


def test_identifiers_collected_from_raw_values_are_those_of_converted_values():
    """collect_identifiers (the tokens Clean Descriptors removes) reads names and IDs from the raw
    bytes, leaving the elements raw; the tokens are the ones pydicom's converted values give."""
    import warnings

    from curation.deid.clean import NAME_TAGS, collect_identifiers

    compared = with_names = kept_raw = 0
    for path in get_testdata_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw = pydicom.dcmread(path, force=True)
                converted = pydicom.dcmread(path, force=True)
                for tag in list(converted._dict):
                    converted[tag]
                expected = collect_identifiers(converted)
            except Exception:  # noqa: BLE001 - samples pydicom itself cannot convert
                continue
            assert collect_identifiers(raw) == expected, path
        names = [t for t in NAME_TAGS if t in raw._dict]
        compared += bool(expected)
        if names and charset_of(raw._dict.get(0x00080005)) is not None:
            with_names += 1
            kept_raw += all(type(raw._dict[t]) is RawDataElement for t in names)
    assert compared > 30
    assert kept_raw > with_names * 0.8, f"names left raw in {kept_raw} of {with_names} files"


def _as_text(value):
    """What the index makes of a value: None/"" alike, several values joined, one value's text."""
    from pydicom.multival import MultiValue

    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_get_reads_every_attribute_as_pydicom_does(path):
    """rawvalue.get (intake's checks and the image index) gives, for every top-level attribute
    with a keyword, the text pydicom's ds.get gives, and the numbers where pydicom's are numbers."""
    from pydicom.datadict import keyword_for_tag

    from curation.deid.rawvalue import get

    fast = pydicom.dcmread(path, force=True)
    slow = pydicom.dcmread(path, force=True)
    for tag in sorted(slow._dict):
        keyword = keyword_for_tag(tag)
        if not keyword or slow._dict[tag].VR == "SQ":
            continue
        try:
            expected = slow.get(keyword)
        except Exception:  # noqa: BLE001 - an element pydicom cannot convert: get must fail or fall back alike
            continue
        got = get(fast, keyword)
        assert _as_text(got) == _as_text(expected), (keyword, got, expected)
        if isinstance(expected, (int, float)) and not isinstance(expected, bool) and not isinstance(expected, str):
            assert float(got) == float(expected), keyword
    assert get(fast, "NoSuchKeywordAnywhere", "dflt") == "dflt"
    assert get(fast, "PatientComments", "absent") == (slow.get("PatientComments", "absent"))


def test_index_reads_a_single_valued_pixel_spacing_and_position():
    """A multi-valued attribute sent with one value (a malformed file) is read as one value, not
    as the characters of its text."""
    from collections_app.services.indexing import _several
    from curation.deid.rawvalue import get

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.PixelSpacing = "0.5"
    raw = pydicom.dcmread(io.BytesIO(_bytes_of(ds)))
    assert [float(v) for v in _several(get(raw, "PixelSpacing"))] == [0.5]
    assert [float(v) for v in _several(get(raw, "ImagePositionPatient"))] == [float(v) for v in ds.ImagePositionPatient]
    assert get(raw, "SOPInstanceUID") == ds.SOPInstanceUID and get(raw, "Rows") == ds.Rows
    assert type(raw._dict[0x00080018]) is RawDataElement and type(raw._dict[0x00280010]) is RawDataElement  # left raw


def _bytes_of(ds):
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_expected_pixel_bytes_is_pydicoms(path):
    """The truncation check's expected Pixel Data length, read from the raw attributes, is what
    pydicom's get_expected_length computes (every sample with the attributes it needs)."""
    from pydicom.pixels.utils import get_expected_length

    from curation.deid.engine import _expected_pixel_bytes, _expected_pixel_bytes_raw

    ds = pydicom.dcmread(path, force=True)
    try:
        expected = int(get_expected_length(pydicom.dcmread(path, force=True), unit="bytes"))
    except (AttributeError, ValueError, TypeError, KeyError):
        expected = None
    assert _expected_pixel_bytes(ds) == expected
    fast = _expected_pixel_bytes_raw(pydicom.dcmread(path, force=True))
    assert fast is None or fast == expected


def test_expected_pixel_bytes_of_packed_subsampled_and_multiframe_images():
    from pydicom.pixels.utils import get_expected_length

    from curation.deid.engine import _expected_pixel_bytes_raw

    base = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for changes in ({"BitsAllocated": 1, "Rows": 5, "Columns": 3}, {"NumberOfFrames": "4"},
                    {"PhotometricInterpretation": "YBR_FULL_422", "SamplesPerPixel": 3}):
        ds = copy.deepcopy(base)
        for k, v in changes.items():
            setattr(ds, k, v)
        raw = pydicom.dcmread(io.BytesIO(_bytes_of(ds)))
        assert _expected_pixel_bytes_raw(raw) == get_expected_length(ds, unit="bytes"), changes
