"""Equivalence classes (curation/review/classes.py) and the projection montage (render.Projection).

Datasets are built here with plain attributes; expected projections come from numpy.stack of
the same arrays, never from the code under test."""
import copy
import io
import math

import numpy as np
import pytest
from PIL import Image as PILImage
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from curation.dicom import render
from curation.review import classes

AXIAL = [1, 0, 0, 0, 1, 0]
SAGITTAL = [0, 1, 0, 0, 0, -1]
CORONAL = [1, 0, 0, 0, 0, -1]


def ds(iop=AXIAL, ipp=(0, 0, 0), **attrs):
    d = Dataset()
    d.Modality = "CT"
    d.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    d.Rows, d.Columns = 512, 512
    d.PhotometricInterpretation = "MONOCHROME2"
    d.BodyPartExamined = "CHEST"
    d.PixelSpacing = [0.7031251, 0.7031249]
    if iop is not None:
        d.ImageOrientationPatient = list(iop)
    if ipp is not None:
        d.ImagePositionPatient = list(ipp)
    for k, v in attrs.items():
        setattr(d, k, v)
    return d


def grouped(datasets):
    return classes.group([(i, classes.signature(d)) for i, d in enumerate(datasets)])


def members(groups):
    return sorted((g.geometry, sorted(g.image_ids)) for g in groups.values())


def test_a_stack_is_one_line_and_each_attribute_splits_it():
    stack = [ds(ipp=(0, 0, 5 * i)) for i in range(10)]
    assert members(grouped(stack)) == [("line", list(range(10)))]
    # rounding: pixel spacing equal to 0.01 mm and orientation to 0.01 do not split
    jitter = [ds(ipp=(0, 0, 0), PixelSpacing=[0.70312, 0.70313]), ds(iop=[1, 0.001, 0, 0, 1, 0], ipp=(0, 0, 5))]
    assert len(grouped(stack[:1] + jitter)) == 1
    for attr, value in (("ImageType", ["DERIVED", "SECONDARY"]), ("Rows", 256), ("BodyPartExamined", "ABDOMEN"),
                        ("PhotometricInterpretation", "MONOCHROME1"), ("ConvolutionKernel", "BONE"),
                        ("BurnedInAnnotation", "YES")):
        odd = ds(ipp=(0, 0, 50), **{attr: value})
        assert members(grouped(stack + [odd])) == [("line", list(range(10))), ("line", [10])], attr


def test_orthogonal_localizer_planes_are_three_lines_and_missing_geometry_is_extra():
    scout = [ds(iop=AXIAL), ds(iop=SAGITTAL), ds(iop=CORONAL), ds(iop=AXIAL, ipp=(0, 0, 9)), ds(iop=None, ipp=None)]
    assert members(grouped(scout)) == [("extra", [4]), ("line", [0, 3]), ("line", [1]), ("line", [2])]


def radial(n, start=0):
    """Planes turning about the patient's z axis (normals in the x-y plane)."""
    out = []
    for k in range(start, start + n):
        t = math.pi * k / 12
        out.append(ds(iop=[-math.sin(t), math.cos(t), 0, 0, 0, -1], ipp=(0, 0, 0)))
    return out


def test_planes_turning_about_one_axis_are_one_radial_class_whatever_the_chunk():
    first = grouped(radial(6))
    assert members(first) == [("radial", list(range(6)))]
    later = grouped(radial(5, start=6))  # the rest of the series in another chunk
    assert set(first) == set(later), "the radial class key depends on the chunk"
    # planes with three normals and no common axis are not radial
    assert [g.geometry for g in grouped([ds(iop=AXIAL), ds(iop=SAGITTAL), ds(iop=CORONAL)]).values()] == ["line"] * 3


def test_keys_are_stable_and_differ_by_series_attributes():
    a, b = grouped([ds()]), grouped([ds()])
    assert set(a) == set(b)
    assert set(a) == set(grouped([ds(SeriesDescription="other")]))  # not a class attribute (one per series)
    assert set(a) != set(grouped([ds(ProtocolName="CHEST W/O")]))


# --- projections ------------------------------------------------------------------------------------

def ct_slices(n=5, slope=1.0, intercept=-1024.0):
    base = dcmread(get_testdata_file("CT_small.dcm", download=False))
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        d = copy.deepcopy(base)
        arr = base.pixel_array.astype(np.int16) + rng.integers(-50, 50, base.pixel_array.shape).astype(np.int16)
        d.PixelData = arr.tobytes()
        d.RescaleSlope, d.RescaleIntercept = slope, intercept
        out.append((d, arr))
    return out


def test_projection_matches_numpy_over_the_stack():
    slices = ct_slices()
    p = render.Projection()
    for d, _ in slices:
        assert p.add_dataset(d)
    hi, mean, lo = p.panels()
    stack = np.stack([a.astype(np.float64) for _, a in slices]) - 1024.0
    np.testing.assert_allclose(hi, stack.max(axis=0))
    np.testing.assert_allclose(lo, stack.min(axis=0))
    np.testing.assert_allclose(mean, stack.mean(axis=0), rtol=1e-5, atol=1e-3)


def test_projection_with_a_rescale_that_changes_per_file():
    slices = ct_slices(3)
    slices[1][0].RescaleSlope = 2.0  # e.g. PET: slope per slice
    p = render.Projection()
    for d, _ in slices:
        p.add_dataset(d)
    hi, mean, lo = p.panels()
    stack = np.stack([a * float(d.RescaleSlope) + float(d.RescaleIntercept) for d, a in slices])
    np.testing.assert_allclose(hi, stack.max(axis=0), rtol=1e-6)
    np.testing.assert_allclose(lo, stack.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mean, stack.mean(axis=0), rtol=1e-5, atol=1e-2)


def test_a_file_of_another_size_is_skipped_not_mixed_in():
    p = render.Projection()
    p.add(np.zeros((4, 4), np.int16))
    assert not p.add(np.ones((5, 5), np.int16))
    assert p.skipped == 1 and p.files == 1


def test_text_on_one_slice_shows_in_the_max_panel_only():
    slices = ct_slices(20)
    arr = slices[7][1].copy()
    arr[4:14, 10:90] = 3000  # a bright caption burned into one slice of twenty
    slices[7][0].PixelData = arr.tobytes()
    p = render.Projection()
    for d, _ in slices:
        p.add_dataset(d)
    img = render.montage(p, slices[0][0])
    assert img.size == (3 * 128 + 2 * render.MONTAGE_GAP, 128)
    out = np.asarray(PILImage.open(io.BytesIO(render.encode_jpeg(img))).convert("L")).astype(int)
    w = 128 + render.MONTAGE_GAP
    max_panel, min_panel = out[:, :128], out[:, 2 * w:2 * w + 128]
    caption = (slice(5, 13), slice(12, 88))
    assert max_panel[caption].mean() > 240  # the caption is white in the max panel
    assert min_panel[caption].mean() < max_panel[caption].mean() - 60
    # CT is shown with the wide montage window (W 2000, C 300) computed from the formula
    assert render.montage_window(slices[0][0], p.panels()[1]) == render.CT_MONTAGE_WINDOW


@pytest.mark.parametrize("bits", [8, 16])
def test_fast_pixel_path_agrees_with_pydicom(bits):
    d = dcmread(get_testdata_file("CT_small.dcm", download=False))
    if bits == 8:
        arr = (d.pixel_array % 256).astype(np.uint8)
        d.BitsAllocated = d.BitsStored = 8
        d.HighBit, d.PixelRepresentation = 7, 0
        d.PixelData = arr.tobytes()
    np.testing.assert_array_equal(render.class_pixels(d), d.pixel_array)


def _file_bytes(d):
    buf = io.BytesIO()
    d.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_trailing_pixels_read_without_a_header_parse_match_pydicom_with_their_own_rescale():
    slices = ct_slices(4)
    slices[2][0].RescaleSlope, slices[2][0].RescaleIntercept = 2.5, -1000  # per-file rescale, as in PET
    blobs = [_file_bytes(d) for d, _ in slices]
    first = dcmread(io.BytesIO(blobs[0]))
    fast = render.TrailingPixels(first, blobs[0])
    for blob, (d, arr) in zip(blobs, slices):
        got = fast.pixels(blob)
        assert got is not None, "the look-alike file was not read by the fast path"
        pixels, slope, intercept = got
        np.testing.assert_array_equal(pixels, arr)
        assert (slope, intercept) == (float(d.RescaleSlope), float(d.RescaleIntercept))
    # a file laid out otherwise (an extra element after the pixels) is left to pydicom
    other = copy.deepcopy(slices[0][0])
    other.add_new(0xFFFCFFFC, "OB", b"\0" * 10)  # DataSetTrailingPadding
    assert fast.pixels(_file_bytes(other)) is None
    # so is a file whose header holds the rescale tag twice (say in a private block)
    dup = blobs[1][:300] + b"\x28\x00\x53\x10DS\x02\x009 " + blobs[1][300:]
    assert fast.pixels(dup) is None


def test_montage_from_the_fast_path_equals_the_full_parse():
    slices = ct_slices(6)
    slices[3][0].RescaleSlope = 2.0
    blobs = [_file_bytes(d) for d, _ in slices]
    slow = render.Projection()
    for blob in blobs:
        slow.add_dataset(dcmread(io.BytesIO(blob)))
    quick = render.Projection()
    first = dcmread(io.BytesIO(blobs[0]))
    quick.add_dataset(first)
    fast = render.TrailingPixels(first, blobs[0])
    for blob in blobs[1:]:
        arr, slope, intercept = fast.pixels(blob)
        quick.add(arr, slope=slope, intercept=intercept)
    for a, b in zip(slow.panels(), quick.panels()):
        np.testing.assert_array_equal(a, b)


def test_signature_from_the_element_report_equals_the_datasets_on_every_sample():
    """Intake classes images from the engine's element report (no element converted again): the
    signature must be the one the dataset itself gives, as read and after de-identification, and
    for the built datasets above (odd spacings, missing geometry)."""
    import warnings

    from pydicom.data import get_testdata_files

    from curation.deid import Deidentifier

    engine = Deidentifier(secret=b"classes-test")
    compared = 0
    built = [ds(), ds(iop=None, ipp=None), ds(SliceThickness="2.50", NumberOfFrames=3), ds(ipp=(0, 0)),
             ds(iop=[1, 0, 0, 0, 1]), ds(PixelSpacing=["0.5", "0.25"], ImageType="DERIVED")]
    for d in built:
        assert classes.signature_from_elements(Deidentifier.elements(d)) == classes.signature(d)
    for path in get_testdata_files():
        for deidentify in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    a, b = dcmread(path, force=True), dcmread(path, force=True)
                    if deidentify:
                        engine.deidentify_dataset(a)
                        engine.deidentify_dataset(b)
                    expected = classes.signature(b)
                    elements = Deidentifier.elements(a)
                except Exception:  # noqa: BLE001 - samples pydicom cannot convert
                    continue
            assert classes.signature_from_elements(elements) == expected, path
            compared += 1
    assert compared > 200
