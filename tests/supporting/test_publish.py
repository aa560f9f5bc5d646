"""Published with the images: frozen in the version's manifest, downloadable alone and in the
version zip under supporting/, listed on the landing and collection pages, in the DataCite
record and the supporting data digest; NBIA clients see the same answers."""
import csv
import hashlib
import io
import zipfile

import pytest

from collections_app.services.publish import manifest_digest, publish
from doi import metadata, selectors
from supporting import services
from supporting.models import VersionSupportingFile
from tests.supporting.conftest import csv_bytes, images_of, lidc_xml

pytestmark = pytest.mark.django_db
V4 = "/nbia-api/services/v4/"


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def clinical(chest, rows=None):
    subjects = sorted({i.series.subject.patient_id for i in images_of(chest)})
    rows = rows or [["PatientID", "Age", "Stage"]] + [[s, str(60 + n), "II"] for n, s in enumerate(subjects)]
    return services.attach(chest, name="clinical.csv", data=csv_bytes(rows), kind="clinical", description="Ages and stages")


def test_version_freezes_files_zip_and_single_download(chest, curator, client):
    images_only, _, _ = manifest_digest(chest)
    sf = clinical(chest)
    with_file, _, _ = manifest_digest(chest)
    assert with_file != images_only  # the manifest counts the supporting file
    version = publish(chest, actor=curator, notes="v1")
    assert version.manifest_sha256 == with_file
    entry = VersionSupportingFile.objects.get(version=version)
    assert (entry.name, entry.stored_file_id, entry.kind) == ("clinical.csv", sf.stored_file_id, "clinical")

    with sf.stored_file.open() as fh:
        data = fh.read()
    one = client.get(f"/downloads/versions/{version.pk}/supporting/clinical.csv")
    assert one.status_code == 200 and body(one) == data and one["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    part = client.get(f"/downloads/versions/{version.pk}/supporting/clinical.csv", HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and body(part) == data[:10]
    assert client.get(f"/downloads/versions/{version.pk}/supporting/nothing.csv").status_code == 404

    z = zipfile.ZipFile(io.BytesIO(body(client.get(f"/downloads/versions/{version.pk}.zip"))))
    root = z.namelist()[0].split("/")[0]
    assert z.read(f"{root}/supporting/clinical.csv") == data
    sums = z.read(f"{root}/sha256sums.txt").decode()
    assert f"{hashlib.sha256(data).hexdigest()}  supporting/clinical.csv" in sums.splitlines()
    assert z.testzip() is None
    # A selection of series is images only.
    series_uid = images_of(chest)[0].series.series_instance_uid
    selection = zipfile.ZipFile(io.BytesIO(body(client.get(f"/downloads/versions/{version.pk}.zip", {"series": series_uid}))))
    assert not [n for n in selection.namelist() if "/supporting/" in n]

    # Version 2 after a replacement keeps version 1's exact file.
    rows = [["PatientID", "Age"], [images_of(chest)[0].series.subject.patient_id, "99"]]
    services.attach(chest, name="clinical.csv", data=csv_bytes(rows), kind="clinical", replace=True)
    v2 = publish(chest, actor=curator, notes="new table")
    assert v2.number == 2 and v2.manifest_sha256 != version.manifest_sha256
    assert body(client.get(f"/downloads/versions/{version.pk}/supporting/clinical.csv")) == data
    assert body(client.get(f"/downloads/versions/{v2.pk}/supporting/clinical.csv")) != data


def test_pages_datacite_and_digest(chest, curator, client):
    images = images_of(chest)
    clinical(chest)
    first = images[0]
    services.attach(chest, name="reader1.xml", kind="annotation", description="Nodule outlines",
                    data=lidc_xml(first.series.series_instance_uid, first.series.study.study_instance_uid, [first.sop_instance_uid]))
    version = publish(chest, actor=curator, notes="v1")
    entries = {e.name: e for e in VersionSupportingFile.objects.filter(version=version).select_related("stored_file")}

    doi = selectors.version_doi(version)
    landing = client.get(f"/doi/{doi.doi}").content.decode()
    page = client.get(f"/collections/{chest.slug}/").content.decode()
    for html in (landing, page):
        for name, e in entries.items():
            assert f'data-supporting="{name}"' in html and e.stored_file.sha256 in html
            assert f"/downloads/versions/{version.pk}/supporting/{name}" in html
        assert "Ages and stages" in html and "Nodule outlines" in html
        assert "Annotation XML (LIDC-IDRI readingSession)" in html

    record = metadata.build(doi)
    assert record["formats"][0] == "application/dicom"
    assert {"text/csv", "application/xml"} <= set(record["formats"])
    for name, e in entries.items():
        assert f"{name}: {e.stored_file.size} bytes" in record["sizes"]
    assert metadata.errors(record) == []

    facet = client.get("/", {"supporting": "yes"}).content.decode()
    assert f'href="/collections/{chest.slug}/"' in facet

    rows = list(csv.reader(io.StringIO(client.get(f"/downloads/versions/{version.pk}/supporting.csv").content.decode())))
    assert rows[0][:3] == ["Collection", "Version", "File"]
    assert sorted((r[2], r[6]) for r in rows[1:]) == sorted((n, e.stored_file.sha256) for n, e in entries.items())


def test_catalogue_facet_needs_supporting_files(chest, curator, client):
    publish(chest, actor=curator, notes="v1")
    assert f'href="/collections/{chest.slug}/"' not in client.get("/", {"supporting": "yes"}).content.decode()


def test_nbia_answers_unchanged(chest, curator, client):
    version = publish(chest, actor=curator, notes="v1")
    uid = images_of(chest)[0].series.series_instance_uid

    def answers():
        series = client.get(V4 + "getSeries", {"Collection": chest.short_name}).json()
        image_zip = zipfile.ZipFile(io.BytesIO(body(client.get(V4 + "getImage", {"SeriesInstanceUID": uid}))))
        files = {n: hashlib.sha256(image_zip.read(n)).hexdigest() for n in image_zip.namelist()}
        return series, files

    before = answers()
    clinical(chest)
    v2 = publish(chest, actor=curator, notes="supporting data")
    assert v2.number == version.number + 1 and v2.image_count == version.image_count
    assert answers() == before


def test_a_file_that_failed_fixity_is_refused(chest, curator, client):
    from fixity.models import FixityRecord

    sf = clinical(chest)
    version = publish(chest, actor=curator, notes="v1")
    stored = sf.stored_file
    FixityRecord.objects.create(storage="archive", name=stored.storage_name, sha256=stored.sha256, size=stored.size,
                                stored_file=stored, status="failed", blocked=True)
    for url in (f"/downloads/versions/{version.pk}/supporting/clinical.csv", f"/downloads/versions/{version.pk}.zip"):
        refused = client.get(url)
        assert refused.status_code == 503 and b"fixity" in refused.content
