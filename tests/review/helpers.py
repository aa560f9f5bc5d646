"""Builders for review tests: series ingested through the real intake (so the review hook runs),
including an 'ultrasound' series with a name and MRN burned into the pixels."""
import io

import numpy as np
from PIL import Image as PILImage, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from collections_app.models import AnatomicSite, Series
from curation.services.intake import Intake, start_batch
from tests.curation.intake_helpers import make_submission

BURNED_TEXT = "DOE^JOHN MRN 12345678"


def ct_series_bytes(n=5, patient="PAT-1", body_part="CHEST"):
    base = dcmread(get_testdata_file("CT_small.dcm", download=False))
    series_uid = generate_uid()
    out = []
    for i in range(n):
        ds = base.copy()
        ds.PatientID = patient
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.BodyPartExamined = body_part
        arr = ds.pixel_array.copy()
        arr[:, :] = np.roll(arr, i * 3, axis=0)  # slices differ
        ds.PixelData = arr.tobytes()
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append(buf.getvalue())
    return out


def us_text_bytes(n=2, patient="PAT-1", text=BURNED_TEXT, size=(320, 240)):
    """8-bit MONOCHROME2 ultrasound-like frames with text burned into the top-left corner."""
    base = dcmread(get_testdata_file("CT_small.dcm", download=False))
    series_uid = generate_uid()
    out = []
    for i in range(n):
        img = PILImage.new("L", size, 10)
        d = ImageDraw.Draw(img)
        d.pieslice((40, 40, size[0] - 40, size[1] + 120), 235, 305, fill=110)
        d.text((8, 6), text, fill=240, font=ImageFont.load_default(size=16))
        ds = base.copy()
        ds.PatientID = patient
        ds.Modality = "US"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.Manufacturer = "SonoCorp"
        ds.ManufacturerModelName = "Echo 5"
        ds.BurnedInAnnotation = "YES"
        ds.Rows, ds.Columns = size[1], size[0]
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        for kw in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
            if kw in ds:
                delattr(ds, kw)
        ds.PixelData = np.asarray(img, dtype=np.uint8).tobytes()
        buf = io.BytesIO()
        ds.save_as(buf)
        out.append(buf.getvalue())
    return out


def ingest(files, slug="review-test", prefix="RVT", submission=None, sites=("Lung",)):
    if submission is None:
        submission = make_submission(slug=slug, prefix=prefix)
        for s in sites:
            submission.collection.anatomic_sites.add(AnatomicSite.objects.get_or_create(name=s)[0])
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    for i, data in enumerate(files):
        item = intake.take(data, f"f{i}.dcm")
        assert item.outcome in ("accepted", "unchanged"), f"f{i}.dcm was {item.outcome}: {item.reason}"
    intake.finish()
    return submission


def series_of(submission, modality=None):
    qs = Series.objects.filter(collection=submission.collection).order_by("pk")
    if modality:
        qs = qs.filter(modality=modality)
    return qs
