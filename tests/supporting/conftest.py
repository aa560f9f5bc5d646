"""Fixtures: a submission whose images came through intake (so the subject map holds keyed
hashes of the original IDs and the UIDs are remapped), and a small published-ready collection."""
import io

import pytest

from collections_app.models import Image, Status
from curation.models import SubjectMapping
from demo.services import DEMO_COLLECTIONS, load_demo_collection
from doi.models import CollectionCreator
from tests.checks.builders import ingest, make_submission, series


@pytest.fixture
def submission(db):
    """Three original patients (PAT-A, PAT-B, PAT-C), one series of two images each, through intake."""
    sub = make_submission(slug="supp-test", prefix="SUPP")
    originals = {}
    for patient in ("PAT-A", "PAT-B", "PAT-C"):
        built = series(patient=patient, study=f"st-{patient}", key=f"se-{patient}", images=2)
        originals[patient] = [ds.SOPInstanceUID for ds, _ in built]
        ingest(sub, [data for _, data in built], name=patient)
    sub.originals = originals  # original SOP Instance UIDs per original patient (test knowledge only)
    return sub


def published_id(sub, original):
    from curation.models import original_key

    return SubjectMapping.objects.get(submission=sub, original_key=original_key(original)).subject_id


def offset_of(sub, original):
    from curation.models import original_key

    return SubjectMapping.objects.get(submission=sub, original_key=original_key(original)).date_offset_days


@pytest.fixture
def chest(db):
    """Demo Chest CT (2 subjects × 1 study × 1 series × 2 images), not yet published, no submission."""
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=2, studies=1, series=1, images=2)
    collection.status = Status.IN_CURATION
    collection.save()
    CollectionCreator.objects.create(collection=collection, position=1, given_name="Jane", family_name="Doe")
    return collection


def csv_bytes(rows, delimiter=",") -> bytes:
    import csv

    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def xlsx_bytes(rows) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def lidc_xml(series_uid, study_uid, sops) -> bytes:
    rois = "".join(f"""
      <roi><imageZposition>-{n}.5</imageZposition><imageSOP_UID>{sop}</imageSOP_UID><inclusion>TRUE</inclusion>
        <edgeMap><xCoord>{10 + n}</xCoord><yCoord>20</yCoord></edgeMap></roi>""" for n, sop in enumerate(sops))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<LidcReadMessage uid="1.3.6.1.4.1.14519.5.2.1.6279.6001.1" xmlns="http://www.nih.gov">
  <ResponseHeader><Version>1.8.1</Version><TaskDescriptor>second read</TaskDescriptor>
    <SeriesInstanceUid>{series_uid}</SeriesInstanceUid><StudyInstanceUID>{study_uid}</StudyInstanceUID></ResponseHeader>
  <readingSession><annotationVersion>3.12</annotationVersion><servicingRadiologistID>anon-1</servicingRadiologistID>
    <unblindedReadNodule><noduleID>Nodule 001</noduleID>
      <characteristics><subtlety>5</subtlety><malignancy>3</malignancy></characteristics>{rois}
    </unblindedReadNodule>
    <nonNodule><nonNoduleID>NN-1</nonNoduleID><imageZposition>-1.5</imageZposition><imageSOP_UID>{sops[0]}</imageSOP_UID>
      <locus><xCoord>30</xCoord><yCoord>40</yCoord></locus></nonNodule>
  </readingSession>
</LidcReadMessage>
""".encode()


def images_of(collection):
    return list(Image.objects.filter(collection=collection).select_related("series__subject", "series__study")
                .order_by("series__subject__patient_id", "instance_number", "sop_instance_uid"))
