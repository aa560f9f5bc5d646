"""Analysis results: an RTSTRUCT of a derived dataset is linked to the source images it
references; a dangling reference refuses publication; the landing page and the DataCite
record show the source versions with their DOIs."""
import pytest
from pydicom.dataset import Dataset

from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes
from doi import metadata, selectors, services
from supporting.models import DerivedFileLink
from tests.checks.builders import encode, rtstruct
from tests.supporting.conftest import images_of

pytestmark = pytest.mark.django_db


def structure_set(images, extra=()):
    first = images[0]
    ds = rtstruct(first.series.subject.patient_id, first.series.study.study_instance_uid, "derived-rt",
                  first.series.series_instance_uid, "1.2.3.4", [i.sop_instance_uid for i in images] + list(extra))
    for roi in ds.ROIContourSequence:  # the sample's contours name the sample's images: point them at ours
        for contour in roi.ContourSequence:
            ref = Dataset()
            ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
            ref.ReferencedSOPInstanceUID = images[0].sop_instance_uid
            contour.ContourImageSequence = [ref]
    return encode(ds)


def test_rtstruct_linkage_gate_and_landing(chest, curator, client):
    version = publish(chest, actor=curator, notes="v1")
    images = images_of(chest)[:2]
    bad = store_bytes(structure_set(images, extra=["1.2.826.0.1.3680043.10.1392.4242"]))
    table = store_bytes(b"PatientID,volume\nx,1\n", content_type="text/csv")
    dataset = services.create_derived(actor=curator, slug="rt-results", title="Tumour outlines", sources=[chest],
                                      files=[("outlines.dcm", bad, "RTSTRUCT"), ("features.csv", table, "")])
    link = DerivedFileLink.objects.get(derived_file__name="outlines.dcm")
    assert (link.modality, link.references, link.resolved) == ("RTSTRUCT", 3, 2)
    assert link.dangling == ["1.2.826.0.1.3680043.10.1392.4242"]
    assert not DerivedFileLink.objects.filter(derived_file__name="features.csv").exists()
    with pytest.raises(services.SubsetError, match="outlines.dcm: 1 of 3 referenced images"):
        services.publish_derived(dataset, actor=curator)

    good = store_bytes(structure_set(images))
    dataset.files.filter(name="outlines.dcm").update(stored_file=good)
    doi = services.publish_derived(dataset, actor=curator)
    link.refresh_from_db()
    assert link.ok and link.series == [{"collection": chest.slug, "series_uid": images[0].series.series_instance_uid,
                                        "version": version.number}]
    html = client.get(f"/doi/{doi.doi}").content.decode()
    version_doi = selectors.version_doi(version)
    assert "2 of 2 referenced images resolved" in html and f'data-source-doi="{version_doi.doi}"' in html
    assert "features.csv" in html and selectors.concept_doi(chest).https in html
    record = metadata.build(doi)
    derived_from = [r["relatedIdentifier"] for r in record["relatedIdentifiers"] if r["relationType"] == "IsDerivedFrom"]
    assert selectors.concept_doi(chest).doi in derived_from and version_doi.doi in derived_from
    assert set(record["formats"]) == {"application/dicom", "text/csv"} and metadata.errors(record) == []


def test_superset_across_collections(chest, curator):
    from demo.services import DEMO_COLLECTIONS, load_demo_collection

    mr = load_demo_collection(DEMO_COLLECTIONS[1], subjects=1, studies=1, series=1, images=1)
    publish(chest, actor=curator, notes="v1")
    publish(mr, actor=curator, notes="v1")
    both = images_of(chest)[:1] + images_of(mr)
    dataset = services.create_derived(actor=curator, slug="both", title="Across", sources=[chest, mr],
                                      files=[("rt.dcm", store_bytes(structure_set(both)), "")])
    services.publish_derived(dataset, actor=curator)
    link = DerivedFileLink.objects.get()
    assert link.ok and sorted(s["collection"] for s in link.series) == sorted([chest.slug, mr.slug])
