"""Clean Pixel Data: rectangle masks on uncompressed and compressed pixel data."""
from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from curation.deid import Deidentifier, MaskRule, MaskRules, Profile, SubjectMap, write_dicom

ROOT = "1.3.6.1.4.1.14519.5.2.1.9999"


def engine(masks=None, profile=None):
    return Deidentifier(profile=profile or Profile.tcia_default(), uid_root=ROOT, secret=b"s",
                        subjects=SubjectMap(seed=1), masks=masks)


def load(name):
    p = get_testdata_file(name, download=False)
    assert p, name
    return pydicom.dcmread(p, force=True)


def written(ds):
    buf = io.BytesIO()
    write_dicom(ds, buf)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


def frames(arr, ds):
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[None, ...]


def check_masked(name, rect, fill=0):
    src = load(name)
    before = frames(np.array(src.pixel_array), src)
    ds = load(name)
    res = engine().deidentify_dataset(ds, masks=[rect])
    assert res.ok and res.masked_rects == 1
    out = written(ds)
    assert out.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert out.BurnedInAnnotation == "NO"
    after = frames(out.pixel_array, out)
    assert after.shape == before.shape
    x, y, w, h = rect
    inside = np.zeros(after.shape[1:3], dtype=bool)
    inside[y:y + h, x:x + w] = True
    assert (after[:, inside] == fill).all(), "masked rectangle not blanked in every frame"
    assert (after[:, ~inside] == before[:, ~inside]).all(), "pixels outside the rectangle changed"
    return src, out


def test_mask_uncompressed_ct():
    check_masked("CT_small.dcm", (10, 5, 40, 20))


def test_mask_rle_compressed_mr():
    src, out = check_masked("MR_small_RLE.dcm", (0, 0, 16, 8))
    assert src.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless


def test_mask_rle_multiframe_rgb_all_frames():
    src, out = check_masked("SC_rgb_rle_2frame.dcm", (20, 30, 10, 10))
    assert int(out.NumberOfFrames) == 2 and out.PhotometricInterpretation == "RGB"


def test_mask_jpeg2000():
    src, out = check_masked("JPEG2000.dcm", (100, 100, 50, 30))
    assert src.file_meta.TransferSyntaxUID.is_compressed


def test_mask_jpeg_baseline_ybr_becomes_rgb():
    src, out = check_masked("SC_rgb_jpeg_dcmtk.dcm", (0, 0, 30, 30))
    assert src.PhotometricInterpretation == "YBR_FULL"
    assert out.PhotometricInterpretation == "RGB" and out.PlanarConfiguration == 0


def test_mask_multiframe_jpeg_ybr_422():
    check_masked("examples_ybr_color.dcm", (0, 0, 200, 40))


def test_mask_uncompressed_big_endian():
    check_masked("MR_small_bigendian.dcm", (4, 4, 8, 8))


def test_masks_selected_by_device_signature():
    rules = MaskRules([
        MaskRule(rects=((0, 0, 128, 10),), manufacturer="GE MEDICAL SYSTEMS", model="RHAPSODE",
                 rows=128, columns=128, name="GE header bar"),
        MaskRule(rects=((0, 0, 5, 5),), manufacturer="Other Vendor"),
    ])
    ds = load("CT_small.dcm")
    res = engine(masks=rules).deidentify_dataset(ds)
    assert res.masked_rects == 1 and (ds.pixel_array[:10] == 0).all()
    ds2 = load("MR_small.dcm")            # other signature: untouched, stays as read
    before = ds2.PixelData
    res2 = engine(masks=rules).deidentify_dataset(ds2)
    assert res2.masked_rects == 0 and ds2.PixelData == before


def test_no_masking_when_option_off_and_warning_for_burned_in():
    rules = MaskRules([MaskRule(rects=((0, 0, 10, 10),))])
    ds = load("CT_small.dcm")
    before = ds.PixelData
    eng = engine(masks=rules, profile=Profile.tcia_default().with_options(remove=["cleanPixelData"]))
    res = eng.deidentify_dataset(ds)
    assert res.masked_rects == 0 and ds.PixelData == before
    ds = load("MR_small.dcm")
    ds.BurnedInAnnotation = "YES"
    res = engine().deidentify_dataset(ds)
    assert any("BurnedInAnnotation" in w for w in res.warnings)


def test_mask_rules_csv(tmp_path):
    p = tmp_path / "masks.csv"
    p.write_text("manufacturer,model,rows,columns,rects,name\n"
                 "GE MEDICAL SYSTEMS,,128,128,\"0,0,10,10;100,100,28,28\",corner text\n")
    rules = MaskRules.load_csv(p)
    assert rules.find(load("CT_small.dcm")) == [(0, 0, 10, 10), (100, 100, 28, 28)]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
@pytest.mark.parametrize("name", ["JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm"])
def test_masked_output_has_no_new_dciodvfy_errors(name, tmp_path):
    import re
    inp, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    write_dicom(load(name), inp)
    res = engine().deidentify_file(inp, out, masks=[(0, 0, 8, 8)])
    assert res.ok and res.masked_rects == 1

    def errors(path):
        proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, timeout=60)
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        return {re.sub(r"<[^>]*>", "<>", ln).strip() for ln in text.splitlines() if ln.startswith("Error")}
    new = errors(out) - errors(inp)
    assert not new, new
