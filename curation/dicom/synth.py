"""Synthetic but real DICOM files built from pydicom's bundled samples.

Used by the demo loader, tests and benchmarks: nothing comes from the network. Each call gives
new UIDs derived from a seed string, so a run is reproducible.
"""
import copy
import datetime as dt
import hashlib
import io
from dataclasses import dataclass

import numpy as np
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

DEMO_ROOT = "1.2.826.0.1.3680043.10.1392"  # a private test root for synthetic inputs


def uid_from(seed: str, root: str = DEMO_ROOT) -> str:
    digits = str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))
    return f"{root}.{digits}"[:64].rstrip(".")


_TEMPLATES: dict[str, Dataset] = {}


def template(name: str) -> Dataset:
    """A parsed copy of a pydicom sample (CT_small.dcm, MR_small.dcm, …), cached per process."""
    if name not in _TEMPLATES:
        path = get_testdata_file(name, download=False)
        if path is None:
            raise FileNotFoundError(f"pydicom sample {name} is not installed")
        _TEMPLATES[name] = dcmread(path)
    return copy.deepcopy(_TEMPLATES[name])


@dataclass
class SeriesSpec:
    patient_id: str
    patient_name: str
    study_key: str
    series_key: str
    modality_sample: str = "CT_small.dcm"
    images: int = 3
    study_date: dt.date = dt.date(2010, 1, 1)
    study_description: str = "Demo study"
    series_description: str = "Demo series"
    series_number: int = 1
    body_part: str = "CHEST"
    patient_sex: str = "F"
    patient_age: str = "060Y"
    pixel_seed: int = 0


def build_series(spec: SeriesSpec) -> list[tuple[Dataset, bytes]]:
    """Return (dataset, encoded bytes) for each image of the series described by `spec`."""
    study_uid = uid_from(f"study:{spec.study_key}")
    series_uid = uid_from(f"series:{spec.series_key}")
    frame_uid = uid_from(f"frame:{spec.series_key}")
    rng = np.random.default_rng(int(hashlib.sha256(f'{spec.series_key}:{spec.pixel_seed}'.encode()).hexdigest()[:8], 16))
    out = []
    for index in range(spec.images):
        ds = template(spec.modality_sample)
        ds.PatientID = spec.patient_id
        ds.PatientName = spec.patient_name
        ds.PatientSex = spec.patient_sex
        ds.PatientAge = spec.patient_age
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        sop_uid = uid_from(f"sop:{spec.series_key}:{index}")
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.StudyDate = spec.study_date.strftime("%Y%m%d")
        ds.SeriesDate = ds.StudyDate
        ds.ContentDate = ds.StudyDate
        ds.StudyDescription = spec.study_description
        ds.SeriesDescription = spec.series_description
        ds.SeriesNumber = spec.series_number
        ds.InstanceNumber = index + 1
        ds.BodyPartExamined = spec.body_part
        ds.StudyID = spec.study_key[-8:]
        if "ImagePositionPatient" in ds:
            x, y, _ = (float(v) for v in ds.ImagePositionPatient)
            ds.ImagePositionPatient = [x, y, float(index) * 5.0]
            ds.SliceLocation = float(index) * 5.0
        pixels = ds.pixel_array.copy()
        # Make each image's pixels its own, so duplicate-pixel checks see distinct images.
        noise = rng.integers(0, 16, size=pixels.shape, dtype=np.int64)
        pixels = np.clip(pixels.astype(np.int64) + noise, np.iinfo(pixels.dtype).min, np.iinfo(pixels.dtype).max)
        ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out.append((ds, buffer.getvalue()))
    return out


def ct_512(template_name: str = "CT_small.dcm") -> Dataset:
    """A 512 x 512 CT slice (about 0.5 MB) made by upsampling the CT sample's pixels."""
    ds = template(template_name)
    pixels = ds.pixel_array
    big = np.kron(pixels, np.ones((4, 4), dtype=pixels.dtype))
    ds.Rows, ds.Columns = big.shape
    ds.PixelData = big.tobytes()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def write_corpus(folder, count: int, patients: int = 20, large_share: float = 0.5) -> list:
    """Write `count` distinct DICOM files under `folder` (half 39 KB CT, half 512 x 512 CT by
    default) spread over `patients` patients, 2 studies and 2 series each. Returns the paths."""
    from pathlib import Path

    folder = Path(folder)
    small = template("CT_small.dcm")
    large = ct_512()
    paths = []
    for n in range(count):
        base = large if int((n + 1) * large_share) > int(n * large_share) else small
        ds = copy.deepcopy(base)
        p = n % patients
        study = (n // patients) % 2
        series = (n // (patients * 2)) % 2
        ds.PatientID = f"PAT{p:04d}"
        ds.PatientName = f"Doe^Patient{p}"
        ds.PatientBirthDate = f"19{40 + p % 50:02d}0101"
        ds.StudyInstanceUID = uid_from(f"bench-study:{p}:{study}")
        ds.SeriesInstanceUID = uid_from(f"bench-series:{p}:{study}:{series}:{base is large}")
        ds.FrameOfReferenceUID = uid_from(f"bench-frame:{p}:{study}")
        ds.SOPInstanceUID = uid_from(f"bench-sop:{n}")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDate = (dt.date(2012, 1, 1) + dt.timedelta(days=p * 7 + study * 90)).strftime("%Y%m%d")
        ds.InstanceNumber = n + 1
        path = folder / f"p{p:04d}" / f"{n:06d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
