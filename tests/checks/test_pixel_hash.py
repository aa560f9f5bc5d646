"""The pixel hash from the raw bytes (uncompressed data) equals the hash of pydicom's decoded
pixels, so files hashed at intake match files hashed later and other transfer syntaxes."""
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from curation.checks import facts

NATIVE = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "badVR.dcm",
          "examples_overlay.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "SC_rgb_small_odd.dcm",
          "SC_ybr_full_422_uncompressed.dcm", "liver_1frame.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm"]
COMPRESSED = ["JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb_rle.dcm", "rtdose_rle.dcm", "JPEG-lossy.dcm"]


def _load(name):
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled with this pydicom")
    return dcmread(path)


@pytest.mark.parametrize("name", NATIVE + COMPRESSED)
def test_fast_hash_equals_decoded_hash(name):
    ds = _load(name)
    assert facts.pixel_hash(ds) == facts.decoded_pixel_hash(ds)


@pytest.mark.parametrize("signed", [0, 1])
@pytest.mark.parametrize("bits_stored", [12, 16])
def test_unused_high_bits_are_treated_like_pydicom(signed, bits_stored):
    ds = _load("CT_small.dcm")
    ds.PixelRepresentation, ds.BitsStored, ds.HighBit = signed, bits_stored, bits_stored - 1
    raw = np.frombuffer(ds.PixelData, dtype="<u2").copy()
    raw[:50] |= 0xF000  # garbage in the unused bits
    raw[50:60] = 0x0800  # 12-bit negative values when signed
    ds.PixelData = raw.tobytes()
    assert facts._native_pixel_hash(ds) is not None
    assert facts.pixel_hash(ds) == facts.decoded_pixel_hash(ds)


def test_same_pixels_in_other_syntaxes_hash_alike():
    native, rle = _load("MR_small.dcm"), _load("MR_small_RLE.dcm")
    assert facts.pixel_hash(native) == facts.pixel_hash(rle)
    assert facts._native_pixel_hash(rle) is None  # compressed: decoded, never the raw bytes
