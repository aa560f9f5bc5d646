"""Render any DICOM image the archive holds to a windowed 8-bit picture (plain Python, no Django).

Covers MONOCHROME1/2, RGB, YBR_* (converted to RGB by pydicom's decoders), PALETTE COLOR,
multi-frame data (one frame is decoded at a time), the modality LUT (rescale slope and
intercept), and every compressed syntax pydicom can decode with pylibjpeg (JPEG, JPEG-LS,
JPEG 2000, RLE). The review queue uses three products of it:

- thumbnails (fit in 128 px, JPEG q85), rendered by a task at intake;
- previews (at most 1024 px, JPEG q85), cached per (file, window, frame);
- the full-fidelity frame: modality values as float32, windowed in the browser.

JPEG rather than PNG because PNG encoding costs 20-25x more (docs: performance baselines §4).

Windowing follows the linear VOI function of PS3.3 C.11.2.1.2.1:
    x <= c - 0.5 - (w-1)/2  -> 0
    x >  c - 0.5 + (w-1)/2  -> 255
    else                    -> ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_voi_lut, pixel_array

THUMB_SIZE = 128
PREVIEW_SIZE = 1024
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    name: str = ""

    @property
    def label(self) -> str:
        name = PRESET_LABELS.get(self.name, self.name or "custom")
        return f"{name} (C {self.center:g}, W {self.width:g})"


# CT presets in Hounsfield units (after the modality LUT).
PRESETS: dict[str, Window] = {
    "lung": Window(-600, 1500, "lung"),
    "mediastinum": Window(50, 350, "mediastinum"),
    "bone": Window(400, 1800, "bone"),
    "brain": Window(40, 80, "brain"),
    "abdomen": Window(40, 400, "abdomen"),
}
PRESET_LABELS = {
    "lung": "CT lung", "mediastinum": "CT mediastinum", "bone": "CT bone", "brain": "CT brain",
    "abdomen": "CT abdomen", "file": "file's own window", "percentile": "percentile 0.5–99.5 %",
    "range": "full stored range", "voilut": "file's VOI LUT",
}
# Names a caller may ask for; "default" picks per file (see resolve_window).
WINDOW_NAMES = ("default", "file", "percentile", *PRESETS)
PERCENTILE_MODALITIES = {"MR", "PT", "NM"}
COLOUR = {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_420", "YBR_PARTIAL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR"}


class RenderError(Exception):
    """The file has no pixels we can show (no PixelData, undecodable syntax…)."""


@dataclass
class Rendered:
    image: Image.Image
    window: Window | None  # None for colour images, which are shown as stored
    frame: int
    frames: int
    rows: int
    columns: int


def read(src: bytes | str | Path | Dataset | io.IOBase) -> Dataset:
    if isinstance(src, Dataset):
        return src
    if isinstance(src, (bytes, bytearray, memoryview)):
        src = io.BytesIO(bytes(src))
    return dcmread(src, force=True)


def frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def photometric(ds: Dataset) -> str:
    return str(ds.get("PhotometricInterpretation", "MONOCHROME2") or "MONOCHROME2").strip().upper()


def is_colour(ds: Dataset) -> bool:
    return photometric(ds) in COLOUR or int(ds.get("SamplesPerPixel", 1) or 1) == 3


def stored_pixels(ds: Dataset, frame: int = 0) -> np.ndarray:
    """One decoded frame as stored (colour converted to RGB by the decoder)."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise RenderError("the file has no pixel data")
    frames = frame_count(ds)
    if not 0 <= frame < frames:
        raise RenderError(f"frame {frame} out of range (the image has {frames})")
    try:
        arr = pixel_array(ds, index=frame if frames > 1 else None)
    except Exception as exc:  # decoders raise many types; the caller shows one message
        raise RenderError(f"cannot decode pixel data: {type(exc).__name__}: {exc}") from exc
    return arr


def _num(value, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        if hasattr(value, "__len__") and not isinstance(value, str):
            value = value[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return default


def modality_values(ds: Dataset, frame: int = 0) -> np.ndarray:
    """Monochrome frame after the modality LUT (rescale slope/intercept), float32."""
    arr = stored_pixels(ds, frame)
    slope = _num(ds.get("RescaleSlope"), 1.0)
    intercept = _num(ds.get("RescaleIntercept"), 0.0)
    out = arr.astype(np.float32, copy=False)
    if slope != 1.0:
        out = out * np.float32(slope)
    if intercept != 0.0:
        out = out + np.float32(intercept)
    return out


def file_window(ds: Dataset) -> Window | None:
    c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
    if c is None or w is None:
        return None
    center, width = _num(c, float("nan")), _num(w, float("nan"))
    if not np.isfinite(center) or not np.isfinite(width) or width < 1:
        return None
    return Window(center, width, "file")


def percentile_window(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> Window:
    sample = values[::2, ::2] if values.ndim == 2 and values.size > 65536 else values
    lo, hi = np.percentile(sample, [low, high])
    if hi - lo < 1:
        lo, hi = float(values.min()), float(values.max())
    width = max(float(hi - lo), 1.0)
    return Window(round(float(lo + hi) / 2, 2), round(width, 2), "percentile")


def range_window(ds: Dataset) -> Window:
    """The whole stored range, for 8-bit (ultrasound, screen captures) and 1-bit data."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    n = 2 ** bits
    lo = -(n // 2) if signed else 0
    return Window(lo + n / 2, float(n), "range")


def resolve_window(ds: Dataset, values: np.ndarray, name: str | None = None,
                   center: float | None = None, width: float | None = None) -> Window:
    """An explicit centre/width wins; then a named preset; then, for 'default', the file's own
    window, a percentile window for MR/PT/NM, the stored range for 8-bit-or-less data, the CT
    abdomen (soft tissue) window for CT, and a percentile window for anything else."""
    if center is not None and width is not None:
        return Window(float(center), max(float(width), 1.0), "custom")
    name = (name or "default").lower()
    if name in PRESETS:
        return PRESETS[name]
    if name == "percentile":
        return percentile_window(values)
    own = file_window(ds)
    if name == "file" and own is not None:
        return own
    if own is not None:
        return own
    modality = str(ds.get("Modality", "") or "").upper()
    if modality in PERCENTILE_MODALITIES:
        return percentile_window(values)
    has_rescale = _num(ds.get("RescaleSlope"), 1.0) != 1.0 or _num(ds.get("RescaleIntercept"), 0.0) != 0.0
    if int(ds.get("BitsStored", 16) or 16) <= 8 and not has_rescale and values.dtype != np.float64:
        return range_window(ds)
    if modality == "CT":
        return PRESETS["abdomen"]
    return percentile_window(values)


def apply_window(values: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """The PS3.3 linear VOI function onto 0..255, rounded to the nearest integer."""
    c, w = float(window.center), max(float(window.width), 1.0)
    if w <= 1.0:  # the standard's degenerate case: a threshold at c - 0.5
        out = np.where(values > c - 0.5, 255, 0).astype(np.uint8)
    else:
        scale = np.float32(255.0 / (w - 1.0))
        shift = np.float32(c - 0.5)
        tmp = (values.astype(np.float32, copy=False) - shift) * scale
        tmp += np.float32(127.5 + 0.5)  # +0.5 so the truncating cast below rounds
        np.clip(tmp, 0, 255.99, out=tmp)
        out = tmp.astype(np.uint8)
    if invert:
        np.subtract(255, out, out=out)
    return out


def _colour_to_uint8(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    if photometric(ds) == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        if arr.dtype != np.uint8:  # palette entries are 16-bit
            arr = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return arr
    if arr.dtype == np.uint8:
        return arr
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    top = float(2 ** bits - 1)
    return np.clip(arr.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def _fit(img: Image.Image, max_size: int | None) -> Image.Image:
    if max_size and max(img.size) > max_size:
        img = img.copy()
        img.thumbnail((max_size, max_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img


def render(src, frame: int = 0, window: str | None = None, center: float | None = None,
           width: float | None = None, max_size: int | None = None) -> Rendered:
    ds = read(src)
    frames = frame_count(ds)
    if is_colour(ds):
        arr = _colour_to_uint8(ds, stored_pixels(ds, frame))
        img = Image.fromarray(np.ascontiguousarray(arr), mode="RGB" if arr.ndim == 3 else "L")
        used = None
    else:
        if "VOILUTSequence" in ds and file_window(ds) is None and (window in (None, "default", "file")) and center is None:
            raw = stored_pixels(ds, frame)
            mapped = apply_voi_lut(raw, ds).astype(np.float32)
            used = Window(float(mapped.min() + mapped.max()) / 2, max(float(np.ptp(mapped)), 1.0), "voilut")
            values = mapped
        else:
            values = modality_values(ds, frame)
            used = resolve_window(ds, values, window, center, width)
        if values.ndim != 2:
            values = values.reshape(values.shape[-2:]) if values.size == values.shape[-1] * values.shape[-2] else values[..., 0]
        arr = apply_window(values, used, invert=photometric(ds) == "MONOCHROME1")
        img = Image.fromarray(arr, mode="L")
    rows, cols = int(ds.get("Rows", img.size[1]) or img.size[1]), int(ds.get("Columns", img.size[0]) or img.size[0])
    return Rendered(image=_fit(img, max_size), window=used, frame=frame, frames=frames, rows=rows, columns=cols)


def encode_jpeg(img: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def encode_png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def thumbnail_jpeg(src, size: int = THUMB_SIZE) -> bytes:
    ds = read(src)
    frame = frame_count(ds) // 2  # the middle frame says more about a cine loop than the first
    return encode_jpeg(render(ds, frame=frame, max_size=size).image)


def preview_jpeg(src, frame: int = 0, window: str | None = None, max_size: int = PREVIEW_SIZE) -> tuple[bytes, Rendered]:
    rendered = render(src, frame=frame, window=window, max_size=max_size)
    return encode_jpeg(rendered.image), rendered


def full_frame(src, frame: int = 0) -> tuple[np.ndarray, dict]:
    """Full fidelity: float32 modality values (monochrome) for windowing in the browser, with the
    window the file suggests. Colour images have no window; callers send a lossless PNG instead."""
    ds = read(src)
    values = np.ascontiguousarray(modality_values(ds, frame), dtype="<f4")
    default = resolve_window(ds, values, "default")
    return values, {
        "rows": int(values.shape[0]), "columns": int(values.shape[1]), "frames": frame_count(ds),
        "center": default.center, "width": default.width, "invert": photometric(ds) == "MONOCHROME1",
        "min": float(values.min()), "max": float(values.max()),
    }
