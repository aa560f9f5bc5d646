"""LIDC-IDRI XML (UIDs rewritten to the remapped UIDs, each reference checked), pathology slides
(tifffile), documents and opaque files."""
import io

import numpy as np
import pytest
import tifffile

from collections_app.models import Image
from supporting import annotations, services
from tests.supporting.conftest import images_of, lidc_xml

pytestmark = pytest.mark.django_db


def stored(sf) -> bytes:
    with sf.stored_file.open() as fh:
        return fh.read()


def test_lidc_xml_uids_rewritten_and_checked(submission, curator):
    collection = submission.collection
    a_sops = submission.originals["PAT-A"]
    dangling = "1.2.826.0.1.3680043.10.1392.999999"
    # The annotations name PAT-A's series, its two images (original UIDs), one image of PAT-B and one UID
    # that no file ever had.
    a_image = Image.objects.filter(collection=collection).exclude(sop_instance_uid__in=[]).first()
    from curation.dicom.synth import uid_from

    original_series = uid_from("series:se-PAT-A")
    original_study = uid_from("study:st-PAT-A")
    b_sop = submission.originals["PAT-B"][0]
    xml = lidc_xml(original_series, original_study, [*a_sops, b_sop, dangling])
    sf = services.attach(collection, name="069.xml", data=xml, kind="annotation", actor=curator)

    text = stored(sf).decode()
    reading = annotations.parse(stored(sf))
    indexed = {i.sop_instance_uid: i for i in images_of(collection)}
    assert a_image is not None
    for original in [*a_sops, b_sop, original_series, original_study]:
        assert original not in text
    assert [u in indexed for u in reading.sop_uids] == [True, True, True, False, True]
    subjects = {indexed[u].series.subject.patient_id for u in reading.sop_uids[:2]}
    assert len(subjects) == 1
    assert reading.series_uid == indexed[reading.sop_uids[0]].series.series_instance_uid
    # Everything but the UIDs stays byte for byte: putting the originals back gives the file received.
    back = text
    for new, old in zip([reading.series_uid, reading.study_uid, *reading.sop_uids],
                        [original_series, original_study, *a_sops, b_sop, dangling, a_sops[0]]):
        back = back.replace(new, old)
    assert back == xml.decode()
    assert "<characteristics><subtlety>5</subtlety><malignancy>3</malignancy></characteristics>" in text
    assert sf.info["sessions"] == 1 and sf.info["nodules"] == 1 and sf.info["non_nodules"] == 1 and sf.info["references"] == 4

    findings = list(services.findings_of(sf).filter(status="open"))
    messages = sorted(f.message for f in findings)
    assert len(findings) == 2 and all(f.severity == "error" for f in findings)
    assert any(reading.sop_uids[3] in m and "does not resolve" in m for m in messages)
    assert not any(dangling in m for m in messages)
    b_new = reading.sop_uids[2]
    cross = next(f for f in findings if b_new in f.message)
    assert "not of the annotated subject" in cross.message and cross.images.get().sop_instance_uid == b_new
    change = sf.revisions.get().changes[0]
    assert change["cells"] == 2 + 5  # series, study and the five imageSOP_UID elements (the dangling one remapped too)


def test_lidc_xml_on_published_uids_kept(chest):
    images = images_of(chest)
    first = images[0]
    xml = lidc_xml(first.series.series_instance_uid, first.series.study.study_instance_uid, [first.sop_instance_uid])
    sf = services.attach(chest, name="reader1.xml", data=xml)
    assert sf.kind == "annotation" and stored(sf) == xml and not sf.revisions.get().changes
    assert not services.findings_of(sf).exists()


@pytest.mark.parametrize("data,expected", [
    (b"<LidcReadMessage><unclosed>", "bad.xml: not well-formed XML"),
    (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><LidcReadMessage/>", "bad.xml: XML with a DTD or entities"),
    (b"<svg></svg>", "bad.xml: not a LIDC-IDRI readingSession XML (root element 'svg')"),
])
def test_bad_xml(chest, data, expected):
    with pytest.raises(services.AttachError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        services.attach(chest, name="bad.xml", data=data, kind="annotation")


def tiled_tiff() -> bytes:
    out = io.BytesIO()
    data = np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    tifffile.imwrite(out, data, tile=(128, 128), photometric="rgb")
    return out.getvalue()


def test_pathology_slide_described(chest, curator_client):
    sf = services.attach(chest, name="slide-01.tiff", data=tiled_tiff(), description="H&E")
    assert sf.kind == "pathology" and sf.content_type == "image/tiff"
    assert (sf.info["width"], sf.info["height"], sf.info["tiled"], sf.info["tile"]) == (500, 300, True, [128, 128])
    page = curator_client.get(f"/curation/supporting/files/{sf.pk}/").content.decode()
    assert "500 × 300 px" in page and "tiles 128 × 128" in page
    with pytest.raises(services.AttachError, match="broken.svs: not a readable TIFF/SVS slide"):
        services.attach(chest, name="broken.svs", data=b"II*\x00" + b"\x00" * 20, kind="pathology")


def test_documents_and_opaque(chest):
    pdf = b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages>> endobj\n3 0 obj <</Type /Page>> endobj\n%%EOF"
    doc = services.attach(chest, name="protocol.pdf", data=pdf)
    assert doc.kind == "document" and doc.content_type == "application/pdf" and doc.info["pages"] == 1
    txt = services.attach(chest, name="README.txt", data=b"line one\nline two\n")
    assert txt.content_type == "text/plain" and txt.info["lines"] == 2
    with pytest.raises(services.AttachError, match="notes.txt: a document must be a PDF or UTF-8 text"):
        services.attach(chest, name="notes.txt", data=b"\xff\xfe\xfa", kind="document")
    blob = services.attach(chest, name="model.pt", data=b"\x80\x02weights")
    assert blob.kind == "other" and blob.warnings and "Opaque" in blob.warnings[0]
    info = services.findings_of(blob).get()
    assert info.severity == "info" and "opaque" in info.message
