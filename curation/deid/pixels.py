"""Clean Pixel Data: rectangle masks chosen by device signature or given per file."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from pydicom.uid import ExplicitVRLittleEndian

Rect = tuple  # (x, y, w, h) in pixels, x = column, y = row


@dataclass(frozen=True)
class MaskRule:
    """Rectangles to blank for images whose signature matches.

    ``manufacturer`` / ``model`` compare case-insensitively after stripping;
    ``None`` matches anything. ``rows`` / ``columns`` ``None`` match any size.
    """

    rects: tuple
    manufacturer: str | None = None
    model: str | None = None
    rows: int | None = None
    columns: int | None = None
    name: str = ""

    def matches(self, manufacturer: str, model: str, rows: int, columns: int) -> bool:
        return ((self.manufacturer is None or self.manufacturer.strip().lower() == manufacturer)
                and (self.model is None or self.model.strip().lower() == model)
                and (self.rows is None or self.rows == rows)
                and (self.columns is None or self.columns == columns))


@dataclass
class MaskRules:
    rules: list = field(default_factory=list)

    def __init__(self, rules: Iterable[MaskRule] = ()):
        self.rules = list(rules)

    def __len__(self):
        return len(self.rules)

    def find(self, ds) -> list:
        """All rectangles of every rule matching the dataset's signature."""
        if not self.rules:
            return []
        man = str(ds.get("Manufacturer", "") or "").strip().lower()
        model = str(ds.get("ManufacturerModelName", "") or "").strip().lower()
        rows = int(ds.get("Rows", 0) or 0)
        cols = int(ds.get("Columns", 0) or 0)
        rects: list = []
        for r in self.rules:
            if r.matches(man, model, rows, cols):
                rects.extend(r.rects)
        return rects

    @classmethod
    def load_csv(cls, path: str | Path) -> "MaskRules":
        """CSV columns: manufacturer, model, rows, columns, rects, name.
        ``rects`` = ``x,y,w,h`` groups separated by ``;``; empty cells = any."""
        rules = []
        with Path(path).open(newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                rects = tuple(parse_rects(rec.get("rects", "")))
                rules.append(MaskRule(
                    rects=rects,
                    manufacturer=(rec.get("manufacturer") or "").strip() or None,
                    model=(rec.get("model") or "").strip() or None,
                    rows=int(rec["rows"]) if (rec.get("rows") or "").strip() else None,
                    columns=int(rec["columns"]) if (rec.get("columns") or "").strip() else None,
                    name=(rec.get("name") or "").strip(),
                ))
        return cls(rules)


def parse_rects(text: str) -> list:
    out = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        x, y, w, h = (int(v) for v in part.split(","))
        out.append((x, y, w, h))
    return out


class PixelMaskError(Exception):
    pass


def apply_masks(ds, rects: Sequence[Rect], fill: int = 0) -> int:
    """Blank ``rects`` in every frame; store the result uncompressed (Explicit VR LE).

    Returns the number of rectangles applied (clipped to the image). Compressed
    transfer syntaxes are decoded with pydicom's pixel handlers (pylibjpeg etc.);
    YBR data decoded to RGB gets PhotometricInterpretation RGB.
    """
    if "PixelData" not in ds:
        raise PixelMaskError("no PixelData to mask")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if int(ds.get("BitsAllocated", 8)) == 1:
        raise PixelMaskError("BitsAllocated 1 pixel data is not supported for masking")
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    spp = int(ds.get("SamplesPerPixel", 1))
    if ts is not None and ts.is_compressed:
        ds.decompress(as_rgb=True, generate_instance_uid=False)
        arr = ds.pixel_array
        if not arr.flags.writeable:
            arr = arr.copy()
    else:
        arr = np.array(ds.pixel_array, copy=True)
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    applied = 0
    for (x, y, w, h) in rects:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(cols, int(x) + int(w)), min(rows, int(y) + int(h))
        if x1 <= x0 or y1 <= y0:
            continue
        if nframes > 1:
            arr[:, y0:y1, x0:x1, ...] = fill
        else:
            arr[y0:y1, x0:x1, ...] = fill
        applied += 1
    # pydicom's decoders return interleaved samples; native YBR_FULL(_422) is converted to RGB
    if spp == 3:
        if "PlanarConfiguration" in ds:
            ds.PlanarConfiguration = 0
        if str(ds.get("PhotometricInterpretation", "")).startswith("YBR"):
            ds.PhotometricInterpretation = "RGB"
    data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if int(ds.get("BitsAllocated", 8)) <= 8 else "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.BurnedInAnnotation = "NO"
    return applied
