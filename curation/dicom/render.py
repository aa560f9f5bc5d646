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


# --- projection montages of image equivalence classes ---------------------------------------------
#
# Posda's Kaleidoscope shows a class of look-alike images (curation/review/classes.py) as one
# picture: the maximum, mean and minimum of every pixel over all its images, side by side.
# Burned-in text, present on some slices only, shows in the max panel; a blank or shifted slice
# shows in the min panel. Values are accumulated one file at a time (no stack of all images in
# memory), as stored, and rescaled once at the end while every file has the same rescale.

MONTAGE_PANEL = 512  # each panel fits in this many pixels
MONTAGE_GAP = 4
# Kaleidoscope's default window (W 2000, C 300): air, soft tissue, bone and text all stay visible.
CT_MONTAGE_WINDOW = Window(300, 2000, "montage")
_NATIVE = {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2"}  # explicit / implicit VR little endian


def _fast_pixels(ds: Dataset) -> np.ndarray | None:
    """Uncompressed little-endian monochrome pixels straight from the bytes (no decoder), or None."""
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    if ts not in _NATIVE or "PixelData" not in ds or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return None
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16) or int(ds.get("BitsStored", bits) or bits) != bits:
        return None
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = {(8, False): "u1", (8, True): "i1", (16, False): "<u2", (16, True): "<i2"}[(bits, signed)]
    rows, cols, frames = int(ds.Rows), int(ds.Columns), frame_count(ds)
    data = ds.PixelData
    if len(data) < rows * cols * frames * bits // 8:
        return None
    arr = np.frombuffer(data, dtype=dtype, count=rows * cols * frames)
    return arr.reshape((frames, rows, cols) if frames > 1 else (rows, cols))


def class_pixels(ds: Dataset) -> np.ndarray:
    """All frames of one file as stored (frames first when there are several). Raises RenderError."""
    fast = _fast_pixels(ds)
    if fast is not None:
        return fast
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise RenderError("the file has no pixel data")
    try:
        return pixel_array(ds)
    except Exception as exc:  # decoders raise many types; the caller shows one message
        raise RenderError(f"cannot decode pixel data: {type(exc).__name__}: {exc}") from exc


class TrailingPixels:
    """The pixels of the other files of a class without parsing their headers.

    Parsing a CT file's ~270 header elements costs more than reading its 0.5 MB of pixels. The
    files of one class share Rows, Columns and the bit layout, and in an uncompressed explicit VR
    little endian file the Pixel Data element comes last but for the same few trailing elements
    (padding, say); so once the first file is parsed, another file that holds a Pixel Data
    element of exactly the same length at the same distance from its end is read as those bytes. Its rescale slope and intercept (which may change per file, as in PET) are read
    from its header bytes when each occurs once there (the standard's top-level elements);
    anything else (other syntax, trailing elements, a repeated tag) returns None and the caller
    parses the file with pydicom."""

    RESCALE = {b"\x28\x00\x53\x10DS": "slope", b"\x28\x00\x52\x10DS": "intercept"}

    def __init__(self, ds: Dataset, data: bytes):
        self.signature = None
        ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        fast = _fast_pixels(ds) if ts == "1.2.840.10008.1.2.1" else None
        if fast is None:
            return
        self.dtype, self.shape = fast.dtype, fast.shape
        self.size = fast.size * fast.dtype.itemsize
        if self.size % 2 or self.size >= 2 ** 32:
            return
        vr = b"OB" if fast.dtype.itemsize == 1 else b"OW"
        signature = b"\xe0\x7f\x10\x00" + vr + b"\x00\x00" + self.size.to_bytes(4, "little")
        at = data.rfind(signature, 0, max(0, len(data) - self.size))
        if at < 132:
            return
        self.tail = len(data) - (at + 12 + self.size)  # bytes after the pixels
        if self.tail < 0 or self.tail > 65536:
            return
        self.signature = signature

    def pixels(self, data: bytes) -> tuple[np.ndarray, float, float] | None:
        if self.signature is None or len(data) < self.size + 12 + 132 + self.tail:
            return None
        start = len(data) - self.tail - self.size
        if data[start - 12:start] != self.signature:
            return None
        header = memoryview(data)[:start - 12].tobytes()
        values = {"slope": 1.0, "intercept": 0.0}
        for pattern, name in self.RESCALE.items():
            found = header.count(pattern)
            if found > 1:
                return None
            if found == 1:
                at = header.index(pattern) + 6
                length = int.from_bytes(header[at:at + 2], "little")
                raw = header[at + 2:at + 2 + length].split(b"\\")[0].strip(b" \x00")
                try:
                    values[name] = float(raw) if raw else values[name]
                except ValueError:
                    return None
        arr = np.frombuffer(data, dtype=self.dtype, count=self.size // self.dtype.itemsize, offset=start)
        return arr.reshape(self.shape), values["slope"], values["intercept"]


class Projection:
    """Running max, sum and min over the images of a class."""

    def __init__(self):
        self.hi = self.lo = self.total = None
        self.count = 0  # frames added
        self.files = 0
        self.skipped = 0  # files whose size differs from the first
        self.rescale: tuple[float, float] | None = None
        self.float_mode = False
        self.colour = False

    def _rescaled(self, arr, slope, intercept):
        return arr.astype(np.float32) * np.float32(slope) + np.float32(intercept)

    def _to_float(self):
        slope, intercept = self.rescale
        hi, lo = self._rescaled(self.hi, slope, intercept), self._rescaled(self.lo, slope, intercept)
        self.hi, self.lo = (hi, lo) if slope >= 0 else (lo, hi)
        self.total = self.total.astype(np.float64) * slope + intercept * self.count
        self.float_mode = True

    def add(self, arr: np.ndarray, *, slope: float = 1.0, intercept: float = 0.0, colour: bool = False) -> bool:
        """Add one file's pixels; False (and counted as skipped) when their size differs."""
        frames = arr.shape[0] if arr.ndim == (4 if colour else 3) else 1
        if frames > 1:
            hi, lo, total = arr.max(axis=0), arr.min(axis=0), arr.sum(axis=0, dtype=np.float64 if arr.dtype.kind == "f" else np.int64)
        else:
            hi = lo = arr
            total = arr
        if self.hi is None:
            self.colour = colour
            self.rescale = (slope, intercept)
            self.hi, self.lo = np.array(hi, copy=True), np.array(lo, copy=True)
            # 16-bit values summed in int32 (cheaper) while they cannot overflow it, then int64
            small = arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2 and frames == 1
            self.total = np.array(total, dtype=np.float64 if arr.dtype.kind == "f" else np.int32 if small else np.int64)
            self.count, self.files = frames, 1
            return True
        if hi.shape != self.hi.shape:
            self.skipped += 1
            return False
        if self.total.dtype == np.int32 and (self.count + frames >= 32767 or arr.dtype.itemsize > 2 or frames > 1):
            self.total = self.total.astype(np.int64)
        if not self.float_mode and (slope, intercept) != self.rescale and not colour:
            self._to_float()
        if self.float_mode:
            if slope < 0:
                hi, lo = lo, hi
            hi, lo = self._rescaled(hi, slope, intercept), self._rescaled(lo, slope, intercept)
            total = np.asarray(total, dtype=np.float64) * slope + intercept * frames
        if self.hi.dtype != hi.dtype and not self.float_mode:  # e.g. one file signed, one not
            self.hi, self.lo = self.hi.astype(np.float32), self.lo.astype(np.float32)
            self.total = self.total.astype(np.float64)
        np.maximum(self.hi, hi, out=self.hi, casting="unsafe")
        np.minimum(self.lo, lo, out=self.lo, casting="unsafe")
        np.add(self.total, total, out=self.total, casting="unsafe")
        self.count += frames
        self.files += 1
        return True

    def add_dataset(self, ds: Dataset) -> bool:
        colour = is_colour(ds)
        arr = class_pixels(ds)
        if colour:
            arr = _colour_to_uint8(ds, arr)
            return self.add(arr, colour=True)
        return self.add(arr, slope=_num(ds.get("RescaleSlope"), 1.0), intercept=_num(ds.get("RescaleIntercept"), 0.0))

    def panels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(max, mean, min) in modality values (monochrome) or stored values (colour)."""
        if self.hi is None:
            raise RenderError("no image of the class could be read")
        mean = (self.total / self.count).astype(np.float32)
        if self.float_mode or self.colour:
            return self.hi, mean, self.lo
        slope, intercept = self.rescale
        hi, lo = self._rescaled(self.hi, slope, intercept), self._rescaled(self.lo, slope, intercept)
        mean = mean * np.float32(slope) + np.float32(intercept)
        return (hi, mean, lo) if slope >= 0 else (lo, mean, hi)


def montage_window(ds: Dataset, mean: np.ndarray) -> Window:
    """One window for the three panels: Kaleidoscope's wide window for CT, the stored range for
    8-bit data, otherwise a percentile window of the mean projection."""
    modality = str(ds.get("Modality", "") or "").upper()
    if modality == "CT":
        return CT_MONTAGE_WINDOW
    has_rescale = _num(ds.get("RescaleSlope"), 1.0) != 1.0 or _num(ds.get("RescaleIntercept"), 0.0) != 0.0
    if int(ds.get("BitsStored", 16) or 16) <= 8 and not has_rescale:
        return range_window(ds)
    return percentile_window(mean)


def montage(projection: Projection, first: Dataset) -> Image.Image:
    """max | mean | min side by side, each fit in MONTAGE_PANEL pixels, on black."""
    hi, mean, lo = projection.panels()
    if projection.colour:
        arrays = [np.clip(a + 0.5, 0, 255).astype(np.uint8) if a.dtype.kind == "f" else a.astype(np.uint8)
                  for a in (hi, mean, lo)]
        mode = "RGB" if arrays[0].ndim == 3 else "L"
    else:
        window = montage_window(first, mean)
        invert = photometric(first) == "MONOCHROME1"
        # MONOCHROME1: the brightest picture is the minimum; keep "max" meaning "most signal"
        arrays = [apply_window(a, window, invert=invert) for a in (hi, mean, lo)]
        mode = "L"
    panels = [_fit(Image.fromarray(np.ascontiguousarray(a), mode=mode), MONTAGE_PANEL) for a in arrays]
    w, h = panels[0].size
    sheet = Image.new(mode, (3 * w + 2 * MONTAGE_GAP, h), 0)
    for i, p in enumerate(panels):
        sheet.paste(p, (i * (w + MONTAGE_GAP), 0))
    return sheet
