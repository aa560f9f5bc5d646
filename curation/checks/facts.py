"""Per-file facts for the checks, taken from the elements intake reports (no second read).

`facts_from_elements` is the pure part; `record_facts` is the ingest hook; `ensure_facts`
fills what the hook could not (files that arrived before it was registered, pixel hashes).
"""
import hashlib

import numpy as np
from pydicom.datadict import keyword_for_tag
from pydicom.valuerep import PersonName

# Top-level attributes the consistency, geometry, linkage and conformance checks compare.
HEADER_KEYWORDS = (
    "SOPClassUID", "SOPInstanceUID", "Modality", "PatientID", "PatientName", "PatientSex", "PatientAge",
    "PatientBirthDate", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "StudyID", "ReferringPhysicianName", "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "SeriesDate",
    "FrameOfReferenceUID", "BodyPartExamined", "Manufacturer", "ManufacturerModelName", "Laterality",
    "PatientPosition", "ProtocolName", "ImagePositionPatient", "ImageOrientationPatient", "InstanceNumber",
    "SliceThickness", "PixelSpacing", "Rows", "Columns", "PatientIdentityRemoved", "BurnedInAnnotation",
    "ImageType", "NumberOfFrames",
)
_WANTED = {}
for _kw in HEADER_KEYWORDS:
    from pydicom.datadict import tag_for_keyword

    _t = tag_for_keyword(_kw)
    _WANTED[f"({_t >> 16:04X},{_t & 0xFFFF:04X})"] = _kw


def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, (str, PersonName)):  # a PersonName iterates over its characters
        return str(value)
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and not isinstance(value, str)):
        return [str(v) for v in value]
    return str(value)


def facts_from_elements(elements) -> tuple[dict, list]:
    """(header, refs): selected top-level values, and every nested UI value with its path."""
    header: dict = {}
    refs: list = []
    for path, vr, value in elements:
        if "[" not in path:
            kw = _WANTED.get(path)
            if kw is not None:
                header[kw] = _jsonable(value)
        elif vr == "UI" and value:
            refs.append([path, str(value)])
    return header, refs


_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}  # implicit and explicit VR little endian


def _native_pixel_hash(ds) -> str | None:
    """pixel_hash for uncompressed little-endian single-sample data, from the PixelData bytes:
    no decoder, no copy unless unused high bits must be cleared the way pydicom does. None when
    the data is anything else (the caller decodes)."""
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") if meta is not None else "")
    elem = ds.get("PixelData") if ts in _NATIVE_LE else None
    if elem is None or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return None
    try:
        raw = elem if isinstance(elem, (bytes, bytearray)) else ds.PixelData
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            return None
        allocated, stored = int(ds.BitsAllocated), int(ds.get("BitsStored") or ds.BitsAllocated)
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    if allocated not in (8, 16, 32) or not 0 < stored <= allocated or rows <= 0 or columns <= 0 or frames <= 0:
        return None
    size = rows * columns * frames * allocated // 8
    if not isinstance(raw, (bytes, bytearray)) or len(raw) < size:
        return None
    dtype = np.dtype(f"{'<i' if signed else '<u'}{allocated // 8}")
    shape = (frames, rows, columns) if frames > 1 else (rows, columns)
    h = hashlib.sha256(str((shape, dtype.str.lstrip("<>=|"))).encode())
    data = memoryview(raw)[:size]
    if stored < allocated:  # pydicom clears (unsigned) or sign-extends (signed) the unused high bits
        arr = np.frombuffer(data, dtype=dtype)
        if signed or (arr >> stored).any():
            shift = allocated - stored
            data = ((arr << shift) >> shift).astype(dtype, copy=False).tobytes()
    h.update(data)
    return h.hexdigest()


def pixel_hash(ds) -> str:
    """SHA-256 of the decoded pixel values with their shape, so the same pixels match whatever
    the transfer syntax. Empty when the object has no pixel data."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        return ""
    fast = _native_pixel_hash(ds)
    if fast is not None:
        return fast
    return decoded_pixel_hash(ds)


def decoded_pixel_hash(ds) -> str:
    """pixel_hash through pydicom's decoder (any transfer syntax)."""
    try:
        arr = np.ascontiguousarray(ds.pixel_array)
    except Exception:  # noqa: BLE001 - undecodable: fall back to the raw bytes
        raw = ds.get("PixelData") or b""
        return hashlib.sha256(bytes(raw)).hexdigest() if raw else ""
    h = hashlib.sha256(str((arr.shape, arr.dtype.str.lstrip("<>=|"))).encode())
    h.update(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def record_facts(*, submission=None, image, elements, replaced_file=None, dataset=None, **_):
    """Ingest hook: header facts of the new file, in one upsert. With the dataset intake parsed,
    uncompressed pixels are hashed here too (no second read at the first check run); compressed
    ones are hashed, once, by the first check run."""
    record_facts_many([(image.stored_file_id, elements, dataset)])


def _pixel_hashes(datasets) -> list:
    """_native_pixel_hash of each dataset (None for a missing one), on two threads for a chunk:
    hashing and NumPy's bit checks release the GIL, so the second core takes half the work."""
    if len(datasets) < 8:
        return [_native_pixel_hash(ds) if ds is not None else None for ds in datasets]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pixel-hash") as pool:
        return list(pool.map(lambda ds: _native_pixel_hash(ds) if ds is not None else None, datasets))


def record_facts_many(files) -> None:
    """Facts of many files, (stored_file_id, elements, dataset) each, in one upsert per kind
    (files whose pixels were hashed here, and files left for the first check run to hash)."""
    from .models import FileFacts

    hashed, unhashed = [], []
    for (stored_file_id, elements, dataset), ph in zip(files, _pixel_hashes([f[2] for f in files])):
        header, refs = facts_from_elements(elements)
        if ph is None and dataset is not None and not any(k in dataset for k in ("PixelData", "FloatPixelData",
                                                                                  "DoubleFloatPixelData")):
            ph = ""  # no pixels: nothing to hash later either
        facts = FileFacts(stored_file_id=stored_file_id, header=header, refs=refs, pixel_hash=ph or "",
                          pixel_hashed=ph is not None)
        (hashed if ph is not None else unhashed).append(facts)
    for rows, fields in ((hashed, ["header", "refs", "pixel_hash", "pixel_hashed"]), (unhashed, ["header", "refs"])):
        if rows:
            FileFacts.objects.bulk_create(rows, update_conflicts=True, unique_fields=["stored_file"], update_fields=fields)


def compute_facts(stored_file, *, want_pixels=True):
    from .models import FileFacts

    from curation.deid.engine import Deidentifier
    from curation.services.corrections import read_stored_dataset

    ds = read_stored_dataset(stored_file)
    header, refs = facts_from_elements(Deidentifier.elements(ds))
    ph = pixel_hash(ds) if want_pixels else ""
    facts, _ = FileFacts.objects.update_or_create(
        stored_file_id=stored_file.pk,
        defaults={"header": header, "refs": refs, "pixel_hash": ph, "pixel_hashed": want_pixels},
    )
    return facts


def ensure_facts(images, progress=None) -> dict:
    """stored_file_id → FileFacts for `images`, computing what is missing (once per file)."""
    from collections_app.models import StoredFile

    from .models import FileFacts

    file_ids = {i.stored_file_id for i in images}
    facts = {f.stored_file_id: f for f in FileFacts.objects.filter(stored_file_id__in=file_ids)}
    missing = [fid for fid in file_ids if fid not in facts or not facts[fid].pixel_hashed]
    for stored in StoredFile.objects.filter(pk__in=missing).iterator():
        facts[stored.pk] = compute_facts(stored)
        if progress:
            progress()
    return facts


def keyword(tag_text: str) -> str:
    try:
        return keyword_for_tag(int(tag_text.strip("()").replace(",", ""), 16)) or tag_text
    except ValueError:
        return tag_text
