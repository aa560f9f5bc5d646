"""Rendering every photometric interpretation and transfer syntax in pydicom's bundled samples.

Expected pixel values are computed here from the PS3.3 C.11.2.1.2.1 linear window formula and
from pydicom's own decoding, never by calling the renderer's helpers."""
import glob
import io
import os
import warnings

import numpy as np
import pydicom.data
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from curation.dicom import render as R

SAMPLES = os.path.join(os.path.dirname(pydicom.data.__file__), "test_files")
# Sample files that are broken on purpose (or need GDCM): the renderer must say so with
# RenderError, which the review queue shows as "corrupt or unreadable".
UNREADABLE = {
    "JPEG-lossy.dcm": "12-bit JPEG Extended with a misplaced marker; only GDCM decodes it",
    "JPEG2000-embedded-sequence-delimiter.dcm": "codestream cut by a sequence delimiter",
    "MR_truncated.dcm": "pixel data shorter than Rows x Columns",
    "badVR.dcm": "NumberOfFrames '1A'",
    "meta_missing_tsyntax.dcm": "no Transfer Syntax UID",
    "nested_priv_SQ.dcm": "no BitsAllocated",
}


def _samples():
    out = []
    for path in sorted(glob.glob(os.path.join(SAMPLES, "**", "*.dcm"), recursive=True)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            continue
        if "Rows" in ds and "Columns" in ds:
            out.append(path)
    return out


SAMPLE_FILES = _samples()


def _read(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(get_testdata_file(name, download=False), force=True)


def expected_linear(x, c, w):
    """PS3.3 C.11.2.1.2.1, output range 0..255, rounded."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0
    if x > c - 0.5 + (w - 1) / 2:
        return 255
    return int(np.floor(((x - (c - 0.5)) / (w - 1) + 0.5) * 255 + 0.5))


def test_samples_cover_every_interpretation_and_syntax():
    seen = set()
    for path in SAMPLE_FILES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, stop_before_pixels=True, force=True)
        ts = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
        seen.add((str(ds.get("PhotometricInterpretation")), str(ts)))
    pis = {pi for pi, _ in seen}
    assert {"MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "PALETTE COLOR"} <= pis
    syntaxes = {ts for _, ts in seen}
    assert {"1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
            "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.2"} <= syntaxes
    assert len(SAMPLE_FILES) > 60


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=os.path.basename)
def test_every_sample_renders_or_says_unreadable(path):
    name = os.path.basename(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path, force=True)
        if name in UNREADABLE:
            with pytest.raises(R.RenderError):
                R.render(ds)
            return
        frames = R.frame_count(ds)
        for frame in {0, frames - 1}:
            rendered = R.render(ds, frame=frame)
            img = rendered.image
            assert img.size == (int(ds.Columns), int(ds.Rows))
            assert img.mode == ("RGB" if R.is_colour(ds) else "L")
            arr = np.asarray(img)
            assert arr.dtype == np.uint8 and 0 <= arr.min() <= arr.max() <= 255
            assert rendered.frames == frames
        thumb = R.thumbnail_jpeg(ds)
        from PIL import Image

        t = Image.open(io.BytesIO(thumb))
        assert t.format == "JPEG" and max(t.size) <= R.THUMB_SIZE
        assert max(t.size) == min(R.THUMB_SIZE, max(int(ds.Columns), int(ds.Rows)))


@pytest.mark.parametrize("preset", ["lung", "mediastinum", "bone", "brain", "abdomen"])
def test_ct_preset_windows_a_known_pixel(preset):
    ds = _read("CT_small.dcm")
    raw = ds.pixel_array  # pydicom's decoding, independent of the renderer
    row, col = 64, 70
    hu = float(raw[row, col]) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    c, w = {"lung": (-600, 1500), "mediastinum": (50, 350), "bone": (400, 1800), "brain": (40, 80),
            "abdomen": (40, 400)}[preset]
    got = R.render(ds, window=preset).image.getpixel((col, row))
    assert abs(got - expected_linear(hu, c, w)) <= 1
    # and a whole-image check: the rendered image equals the formula everywhere (±1 rounding)
    hu_all = raw.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    want = np.clip(((hu_all - (c - 0.5)) / (w - 1) + 0.5) * 255, 0, 255)
    assert np.abs(np.asarray(R.render(ds, window=preset).image).astype(float) - want).max() <= 1


def test_file_window_is_used_by_default_and_explicit_center_width_wins():
    ds = _read("MR_small.dcm")
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)  # 600 / 1600
    raw = ds.pixel_array
    r = R.render(ds)
    assert r.window.name == "file"
    for row, col in [(10, 10), (32, 32), (50, 20)]:
        assert abs(r.image.getpixel((col, row)) - expected_linear(float(raw[row, col]), c, w)) <= 1
    custom = R.render(ds, center=100, width=50)
    v = float(raw[32, 32])
    assert abs(custom.image.getpixel((32, 32)) - expected_linear(v, 100, 50)) <= 1


def test_percentile_window_for_mr_without_window():
    ds = _read("MR_small.dcm")
    del ds.WindowCenter
    del ds.WindowWidth
    r = R.render(ds)
    assert r.window.name == "percentile"
    arr = np.asarray(r.image)
    lo, hi = np.percentile(ds.pixel_array, [0.5, 99.5])
    assert abs(r.window.center - (lo + hi) / 2) < 0.02 * (hi - lo) + 1
    # about 0.5 % of pixels sit at each end of the range
    assert (arr == 255).mean() < 0.03 and (arr == 0).mean() < 0.03 + (ds.pixel_array == ds.pixel_array.min()).mean()


def test_monochrome1_is_inverted():
    ds = _read("CT_small.dcm")
    normal = np.asarray(R.render(ds, window="abdomen").image).astype(int)
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = np.asarray(R.render(ds, window="abdomen").image).astype(int)
    assert np.array_equal(inverted, 255 - normal)


def test_rescale_slope_and_intercept_are_applied():
    ds = _read("CT_small.dcm")
    raw = ds.pixel_array
    ds.RescaleSlope, ds.RescaleIntercept = 2, -2000
    row, col = 40, 80
    hu = float(raw[row, col]) * 2 - 2000
    got = R.render(ds, center=0, width=4000).image.getpixel((col, row))
    assert abs(got - expected_linear(hu, 0, 4000)) <= 1


def test_rgb_pixels_pass_through():
    ds = _read("examples_rgb_color.dcm")
    arr = ds.pixel_array
    img = R.render(ds).image
    assert img.getpixel((5, 5)) == tuple(int(v) for v in arr[5, 5])
    assert img.getpixel((200, 150)) == tuple(int(v) for v in arr[150, 200])


def test_ybr_jpeg_is_converted_to_rgb():
    rgb = np.asarray(R.render(_read("SC_rgb_dcmtk_+eb+cr.dcm")).image).astype(int)
    ybr = np.asarray(R.render(_read("SC_rgb_dcmtk_+eb+cy+n1.dcm")).image).astype(int)
    assert np.abs(rgb - ybr).mean() < 3  # same picture, lossy either way; unconverted YBR would differ by ~100


def test_palette_colour_uses_the_lut():
    ds = _read("examples_palette.dcm")
    idx = int(ds.pixel_array[100, 300])
    first = ds.RedPaletteColorLookupTableDescriptor[1]
    red = np.frombuffer(ds.RedPaletteColorLookupTableData, dtype="<u2")
    green = np.frombuffer(ds.GreenPaletteColorLookupTableData, dtype="<u2")
    i = max(0, idx - first)
    got = R.render(ds).image.getpixel((300, 100))
    assert abs(got[0] - (int(red[i]) >> 8)) <= 1 and abs(got[1] - (int(green[i]) >> 8)) <= 1


def test_multiframe_renders_the_asked_frame():
    ds = _read("SC_rgb_rle_2frame.dcm")
    frames = ds.pixel_array
    assert not np.array_equal(frames[0], frames[1])
    for f in (0, 1):
        assert np.array_equal(np.asarray(R.render(ds, frame=f).image), frames[f])
    with pytest.raises(R.RenderError):
        R.render(ds, frame=2)


def test_compressed_matches_uncompressed():
    plain = np.asarray(R.render(_read("MR_small.dcm")).image)
    for name in ("MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"):
        assert np.array_equal(np.asarray(R.render(_read(name)).image), plain), name


def test_full_frame_keeps_modality_values():
    ds = _read("CT_small.dcm")
    values, info = R.full_frame(ds)
    assert values.dtype == np.dtype("<f4") and values.shape == (128, 128)
    assert values[3, 4] == float(ds.pixel_array[3, 4]) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert info["rows"] == 128 and not info["invert"]


def test_preview_is_capped():
    ds = _read("examples_palette.dcm")  # 800 x 350
    data, rendered = R.preview_jpeg(ds, max_size=400)
    from PIL import Image

    assert Image.open(io.BytesIO(data)).size == (400, 175)
