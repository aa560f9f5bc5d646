"""Native Pixel Data length follows PS3.5 8.1.1 as pydicom computes it: no valid file is called
truncated (chroma-subsampled YBR, odd lengths, multi-frame, bit-packed), a cut one still is."""
import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files

from curation.deid import DeidError, read_dicom


def _uncompressed_samples():
    out = []
    for path in sorted(set(get_testdata_files("*.dcm"))):
        try:
            ds = pydicom.dcmread(path, force=True)
            ts = ds.file_meta.TransferSyntaxUID
            if ts.is_compressed or "PixelData" not in ds:
                continue
            ds.pixel_array  # noqa: B018 - pydicom itself can decode it: a valid file by its own measure
        except Exception:  # noqa: BLE001 - files pydicom ships broken on purpose are not judged here
            continue
        out.append(path)
    return out


SAMPLES = _uncompressed_samples()


def test_the_sample_set_covers_the_hard_cases():
    names = {Path(p).name for p in SAMPLES}
    assert "SC_ybr_full_422_uncompressed.dcm" in names  # subsampled chroma
    assert any(pydicom.dcmread(p, stop_before_pixels=True).get("BitsAllocated") == 1 for p in SAMPLES)  # bit-packed
    assert any(int(pydicom.dcmread(p, stop_before_pixels=True).get("NumberOfFrames", 1) or 1) > 1 for p in SAMPLES)
    assert len(SAMPLES) >= 20


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: Path(p).name)
def test_no_uncompressed_sample_is_rejected_as_truncated(path):
    data = Path(path).read_bytes()
    ds = read_dicom(data, Path(path).name)
    assert "PixelData" in ds


def test_ybr_full_422_is_taken_by_intake_and_a_cut_file_is_not():
    data = Path(get_testdata_file("SC_ybr_full_422_uncompressed.dcm", download=False)).read_bytes()
    read_dicom(data, "ybr.dcm")
    ds = pydicom.dcmread(io.BytesIO(data))
    expected = ds.Rows * ds.Columns * 2  # two bytes a pixel: Y for each, Cb and Cr shared by two
    ds.PixelData = ds.PixelData[: expected - 100]
    out = io.BytesIO()
    ds.save_as(out)
    with pytest.raises(DeidError, match=f"PixelData has {expected - 100} of {expected} bytes"):
        read_dicom(out.getvalue(), "cut.dcm")
