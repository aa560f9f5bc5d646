"""Image equivalence classes: the images of a series that look alike, reviewed as one picture.

Plain Python, no Django. Posda (NewCreateSeriesEquivalenceClasses) splits a series first by
non-geometric attributes, then by geometry into lines, radials and extras; we do the same with
the attributes below (see docs/review.md, "Equivalence classes").

`signature(ds)` gives an image's non-geometric attributes and its plane; `group(entries)` turns
a chunk of (image id, signature) into classes: {class key: Group}. A key depends only on the
image's own attributes and, for radial sets, on the rotation axis of the planes, so the images
of one class arriving in different chunks land in the same class.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

# (DICOM keyword, label shown to curators). Same values: same class (within a series).
ATTRIBUTES: list[tuple[str, str]] = [
    ("Modality", "Modality"),
    ("SOPClassUID", "SOP class"),
    ("ImageType", "Image type"),
    ("Rows", "Rows"),
    ("Columns", "Columns"),
    ("NumberOfFrames", "Frames"),
    ("SamplesPerPixel", "Samples per pixel"),
    ("PhotometricInterpretation", "Photometric interpretation"),
    ("BitsAllocated", "Bits allocated"),
    ("BitsStored", "Bits stored"),
    ("PixelRepresentation", "Pixel representation"),
    ("PixelSpacing", "Pixel spacing (0.01 mm)"),
    ("SliceThickness", "Slice thickness (0.1 mm)"),
    ("BodyPartExamined", "Body part examined"),
    ("Laterality", "Laterality"),
    ("ImageLaterality", "Image laterality"),
    ("PatientPosition", "Patient position"),
    ("ProtocolName", "Protocol name"),
    ("ConvolutionKernel", "Convolution kernel"),
    ("ContrastBolusAgent", "Contrast agent"),
    ("BurnedInAnnotation", "Burned-in annotation"),
    ("ConversionType", "Conversion type"),
]
ROUND = {"PixelSpacing": 2, "SliceThickness": 1}
ORIENTATION_DECIMALS = 2  # ImageOrientationPatient is compared rounded to 0.01
RADIAL_TOLERANCE = 0.05  # |normal · axis| below this: the plane contains the axis

LINE, RADIAL, EXTRA = "line", "radial", "extra"
GEOMETRY_LABELS = {
    LINE: "line: parallel planes, one orientation",
    RADIAL: "radial: planes turning about one axis",
    EXTRA: "extra: no position or orientation",
}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(_text(v) for v in value)
    return str(value).strip()


def _rounded(value, places: int) -> str:
    parts = []
    for v in (value if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]):
        try:
            r = round(float(v), places)
        except (TypeError, ValueError):
            return _text(value)
        parts.append(f"{r + 0.0:.{places}f}")  # + 0.0: no "-0.00"
    return "\\".join(parts)


@dataclass(frozen=True)
class Signature:
    attributes: tuple[tuple[str, str], ...]
    orientation: tuple[float, ...] | None  # ImageOrientationPatient rounded, or None
    has_position: bool

    @property
    def normal(self) -> tuple[float, float, float] | None:
        if not self.orientation or not self.has_position:
            return None
        r, c = self.orientation[:3], self.orientation[3:]
        n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
        length = math.sqrt(sum(x * x for x in n))
        return tuple(x / length for x in n) if length > 1e-6 else None


def signature(ds) -> Signature:
    """The class attributes of one dataset (de-identified, as stored)."""
    return _signature(ds.get)


def _path(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


_BY_PATH = {_path(k): k for k in [k for k, _ in ATTRIBUTES] + ["ImageOrientationPatient", "ImagePositionPatient"]}


def signature_from_elements(elements) -> Signature:
    """signature() from the de-identification engine's element report of the same dataset
    ((tag path, VR, value) with values as their text, see curation.deid.rawvalue): what intake
    already has, so no element of the dataset is converted again."""
    found = {}
    for path, _vr, value in elements:
        keyword = _BY_PATH.get(path)
        if keyword is not None:
            found[keyword] = value
    return _signature(found.get)


def _signature(get) -> Signature:
    values = []
    for keyword, _label in ATTRIBUTES:
        value = get(keyword)
        if keyword == "NumberOfFrames":
            text = _text(value) or "1"
        elif keyword in ROUND and value not in (None, ""):
            text = _rounded(value, ROUND[keyword])
        else:
            text = _text(value)
        values.append((keyword, text))
    orientation = None
    iop = get("ImageOrientationPatient")
    try:
        if iop is not None and len(iop) == 6:
            orientation = tuple(round(float(v), ORIENTATION_DECIMALS) + 0.0 for v in iop)
    except (TypeError, ValueError):
        orientation = None
    ipp = get("ImagePositionPatient")
    try:
        has_position = ipp is not None and len(ipp) == 3 and all(math.isfinite(float(v)) for v in ipp)
    except (TypeError, ValueError):
        has_position = False
    return Signature(tuple(values), orientation, has_position)


def index_signature(*, modality="", sop_class_uid="", rows=None, columns=None, frames=1, photometric="",
                    body_part="", has_position=False) -> Signature:
    """A signature from the index alone, for images indexed before classes existed (their other
    attributes read as empty)."""
    known = {"Modality": modality, "SOPClassUID": sop_class_uid, "Rows": rows, "Columns": columns,
             "NumberOfFrames": frames or 1, "PhotometricInterpretation": photometric, "BodyPartExamined": body_part}
    return Signature(tuple((k, _text(known.get(k))) for k, _ in ATTRIBUTES), None, has_position)


@dataclass
class Group:
    key: str
    geometry: str
    attributes: dict
    image_ids: list = field(default_factory=list)


def _key(attributes, geometry: str, plane) -> str:
    text = json.dumps([list(attributes), geometry, plane], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _unit(v):
    length = math.sqrt(sum(x * x for x in v))
    return tuple(x / length for x in v) if length > 1e-6 else None


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def radial_axis(normals) -> tuple[float, ...] | None:
    """The axis every plane contains, when the planes (three or more distinct normals) turn
    about one; None otherwise. Sign-normalised and rounded, so it can name a class."""
    distinct = []
    for n in normals:
        if all(abs(abs(sum(a * b for a, b in zip(n, m))) - 1) > 1e-3 for m in distinct):
            distinct.append(n)
    if len(distinct) < 3:
        return None
    axis = None
    for m in distinct[1:]:
        axis = _unit(_cross(distinct[0], m))
        if axis is not None:
            break
    if axis is None or any(abs(sum(a * b for a, b in zip(n, axis))) > RADIAL_TOLERANCE for n in distinct):
        return None
    big = max(range(3), key=lambda i: abs(axis[i]))
    if axis[big] < 0:
        axis = tuple(-x for x in axis)
    return tuple(round(x, 1) + 0.0 for x in axis)


def group(entries) -> dict[str, Group]:
    """Classes of a chunk of one series: `entries` are (image id, Signature) pairs.

    Images are split by their non-geometric attributes, then by geometry: planes with one
    orientation form a line; three or more orientations turning about a common axis form one
    radial class; images without position or orientation are extras."""
    by_attrs: dict = {}
    for image_id, sig in entries:
        by_attrs.setdefault(sig.attributes, []).append((image_id, sig))
    out: dict[str, Group] = {}

    def add(attrs, geometry, plane, image_id):
        key = _key(attrs, geometry, plane)
        g = out.get(key)
        if g is None:
            g = out[key] = Group(key, geometry, dict(attrs))
        g.image_ids.append(image_id)

    for attrs, members in by_attrs.items():
        placed = [(i, s, s.normal) for i, s in members]
        axis = radial_axis([n for _, _, n in placed if n is not None])
        for image_id, sig, normal in placed:
            if normal is None:
                add(attrs, EXTRA, None, image_id)
            elif axis is not None:
                add(attrs, RADIAL, list(axis), image_id)
            else:
                add(attrs, LINE, list(sig.orientation), image_id)
    return out
