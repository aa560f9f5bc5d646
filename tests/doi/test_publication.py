"""Publishing, immutable downloads, DOIs and their metadata, landing pages and access rules."""
import csv
import hashlib
import io
import json
import zipfile

import pytest
from datacite import schema45
from lxml import etree

from collections_app.models import CollectionVersion, Image, Series, Status
from collections_app.services import digest
from collections_app.services.indexing import replace_image_file
from collections_app.services.publish import GateFailure, PublishBlocked, publish, register_gate, unregister_gate
from collections_app.services.storage import store_bytes
from doi import metadata, selectors
from doi.models import DOI
from doi.services import withdraw_version
from tests.publication.helpers import complete_metadata, publish_form, stable_members


def get_zip(client, version) -> bytes:
    response = client.get(f"/downloads/versions/{version.pk}.zip")
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    return body


def test_publish_freezes_manifest_and_mints_dois(published, chest):
    version = published
    chest.refresh_from_db()
    assert chest.status == Status.PUBLISHED
    assert version.number == 1 and version.image_count == 12
    lines = sorted(f"{e.sop_instance_uid} {e.stored_file.sha256}\n" for e in version.entries.select_related("stored_file"))
    assert version.manifest_sha256 == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert not Series.objects.filter(collection=chest, date_released__isnull=True).exists()
    concept = selectors.concept_doi(chest)
    vdoi = selectors.version_doi(version)
    assert concept.state == vdoi.state == DOI.State.FINDABLE
    assert concept.doi.startswith("10.80000/tcia.")
    assert selectors.doi_url_for_collection(chest) == f"https://doi.org/{concept.doi}"
    rels = {(r["relationType"], r["relatedIdentifier"]) for r in vdoi.metadata["relatedIdentifiers"]}
    assert ("IsVersionOf", concept.doi) in rels
    assert ("HasVersion", vdoi.doi) in {(r["relationType"], r["relatedIdentifier"]) for r in concept.metadata["relatedIdentifiers"]}


def test_datacite_json_validates_and_xml_has_identifier(published):
    for doi in DOI.objects.all():
        record = metadata.build(doi)
        assert schema45.validate(record), list(schema45.validator.iter_errors(record))
        root = etree.fromstring(metadata.to_xml(record).encode())
        ns = {"d": "http://datacite.org/schema/kernel-4"}
        assert root.find("d:identifier", ns).text.lower() == doi.doi
        assert root.find("d:rightsList/d:rights", ns).get("rightsIdentifier") == "CC-BY-3.0"


def test_invalid_metadata_is_never_registered(published):
    record = metadata.build(DOI.objects.first())
    del record["creators"]
    with pytest.raises(metadata.MetadataInvalid):
        metadata.validate(record)
    record = metadata.build(DOI.objects.first())
    del record["doi"]
    assert schema45.validate(record)  # the JSON Schema allows it …
    with pytest.raises(metadata.MetadataInvalid):  # … the XML schema does not, so neither do we
        metadata.validate(record)


def test_download_stays_identical_after_correction_and_second_version(client, published, chest, curator):
    v1 = published
    before = get_zip(client, v1)
    image = Image.objects.filter(series__collection=chest).order_by("sop_instance_uid").first()
    old_sha = image.stored_file.sha256
    with image.stored_file.open() as fh:
        corrected = fh.read() + b"\x00\x00"  # new bytes: a correction
    replace_image_file(image=image, stored_file=store_bytes(corrected))
    v2 = publish(chest, actor=curator, notes="Corrected one image")
    assert v2.number == 2 and v2.manifest_sha256 != v1.manifest_sha256
    after = get_zip(client, v1)
    # The same files, LICENSE and folders byte for byte; only metadata.csv's Download Timestamp
    # (and so its checksum line) says when each download was made.
    assert stable_members(after) == stable_members(before)
    newer = get_zip(client, v2)
    assert stable_members(newer) != stable_members(before)
    z1, z2 = zipfile.ZipFile(io.BytesIO(before)), zipfile.ZipFile(io.BytesIO(newer))
    sums1 = dict(line.split("  ", 1)[::-1] for line in z1.read("Demo-Chest-CT-v1/sha256sums.txt").decode().splitlines())
    sums2 = dict(line.split("  ", 1)[::-1] for line in z2.read("Demo-Chest-CT-v2/sha256sums.txt").decode().splitlines())
    assert old_sha in sums1.values() and old_sha not in sums2.values()
    assert hashlib.sha256(corrected).hexdigest() in sums2.values()
    # version DOIs chain: v2 IsNewVersionOf v1, v1 IsPreviousVersionOf v2
    d1, d2 = selectors.version_doi(v1), selectors.version_doi(v2)
    d1.refresh_from_db()
    assert {"relationType": "IsNewVersionOf", "relatedIdentifier": d1.doi, "relatedIdentifierType": "DOI"} in d2.metadata["relatedIdentifiers"]
    assert {"relationType": "IsPreviousVersionOf", "relatedIdentifier": d2.doi, "relatedIdentifierType": "DOI"} in d1.metadata["relatedIdentifiers"]
    # the old landing page says there is a newer version, and lists both downloads
    page = client.get(f"/doi/{d1.doi}").content.decode()
    assert "newer version" in page and f"/downloads/versions/{v2.pk}.zip" in page and f"/downloads/versions/{v1.pk}.zip" in page


def test_every_zip_entry_hashes_to_its_checksum_and_manifest(client, published):
    body = get_zip(client, published)
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.testzip() is None
    root = "Demo-Chest-CT-v1/"
    sums = {}
    for line in z.read(root + "sha256sums.txt").decode().splitlines():
        sha, path = line.split("  ", 1)
        sums[path] = sha
    names = [n for n in z.namelist() if n != root + "sha256sums.txt"]
    assert sorted(root + p for p in sums) == sorted(names)
    for name in names:
        assert hashlib.sha256(z.read(name)).hexdigest() == sums[name[len(root):]], name
    dicom = {sha for path, sha in sums.items() if path.endswith(".dcm")}
    assert dicom == {e.stored_file.sha256 for e in published.entries.select_related("stored_file")}
    # descriptive layout: Collection/Patient/MM-dd-yyyy-...-last5/Number-Desc-last5/1-N.dcm
    series = Series.objects.filter(collection=published.collection).select_related("study", "subject").first()
    prefix = (f"{root}Demo-Chest-CT/{series.subject.patient_id}/{series.study.study_date:%m-%d-%Y}-{series.study.study_id.replace(':', '-')}-CT baseline-"
              f"{series.study.study_instance_uid[-5:]}/{series.series_number}-{series.series_description}-{series.series_instance_uid[-5:]}/")
    assert {n for n in z.namelist() if n.startswith(prefix)} == {prefix + f"1-{i}.dcm" for i in (1, 2, 3)}
    assert root + "Demo-Chest-CT/LICENSE" in z.namelist()
    meta = z.read(root + "metadata.csv").decode()
    assert meta.endswith("\r\n") and '"' not in meta
    rows = meta.split("\r\n")[:-1]
    assert rows[0].split(",") == [
        "Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
        "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality", "SOP Class Name",
        "SOP Class UID", "Number of Images", "File Size", "File Location", "Download Timestamp",
    ]
    assert len(rows) == 1 + 4 and all(len(r.split(",")) == 17 for r in rows)
    first = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert first["SOP Class Name"] == "CT Image Storage" and first["Data Description URI"].startswith("https://doi.org/10.80000/")


def test_series_and_study_selection_and_manifest(client, published):
    series = Series.objects.filter(collection=published.collection).order_by("series_instance_uid")[:2]
    uids = [s.series_instance_uid for s in series]
    r = client.get(f"/downloads/versions/{published.pk}.zip", {"series": uids})
    z = zipfile.ZipFile(io.BytesIO(b"".join(r.streaming_content)))
    assert len([n for n in z.namelist() if n.endswith(".dcm")]) == 6
    r = client.get(f"/downloads/studies/{series[0].study.study_instance_uid}.zip")
    assert r.status_code == 200
    r = client.get(f"/downloads/versions/{published.pk}.tcia", {"series": uids})
    lines = r.content.decode().split("\n")
    assert lines[0].startswith("downloadServerUrl=http://testserver/")
    assert lines[1:6] == ["includeAnnotation=true", "noOfrRetry=4", lines[3], "manifestVersion=3.0", "ListOfSeriesToDownload="]
    assert lines[3].startswith("databasketId=manifest-") and lines[3].endswith(".tcia")
    assert sorted(l for l in lines[6:] if l) == sorted(uids)


def test_range_requests_on_single_files(client, published):
    entry = published.entries.select_related("stored_file").first()
    url = f"/downloads/versions/{published.pk}/images/{entry.sop_instance_uid}.dcm"
    with entry.stored_file.open() as fh:
        data = fh.read()
    full = client.get(url)
    assert full.status_code == 200 and b"".join(full.streaming_content) == data and full["Accept-Ranges"] == "bytes"
    part = client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == data[-10:]
    resume = client.get(url, HTTP_RANGE=f"bytes={len(data) - 5}-")
    assert b"".join(resume.streaming_content) == data[-5:]
    bad = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")
    assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{len(data)}"


def test_limited_access_needs_login_and_accepted_agreement(client, limited, curator, plain_user):
    version = publish(limited, actor=curator, notes="v1")
    url = f"/downloads/versions/{version.pk}.zip"
    assert client.get(url).status_code == 403
    entry = version.entries.first()
    assert client.get(f"/downloads/versions/{version.pk}/images/{entry.sop_instance_uid}.dcm").status_code == 403
    client.force_login(plain_user)
    refused = client.get(url)
    assert refused.status_code == 403 and f"/collections/{limited.slug}/agreement/" in refused.content.decode()
    page = client.get(f"/collections/{limited.slug}/agreement/")
    assert "re-identify" in page.content.decode()
    client.post(f"/collections/{limited.slug}/agreement/", {"accept": "yes"})
    ok = client.get(url)
    assert ok.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(b"".join(ok.streaming_content)))
    assert "re-identify" in z.read("Demo-Brain-MR-v1/Demo-Brain-MR/LICENSE").decode()


ACCEPT = {
    "datacite-json": "application/vnd.datacite.datacite+json",
    "datacite-xml": "application/vnd.datacite.datacite+xml",
    "csl-json": "application/vnd.citationstyles.csl+json",
    "bibtex": "application/x-bibtex",
    "ris": "application/x-research-info-systems",
    "citation": "text/x-bibliography",
    "schemaorg": "application/ld+json",
}


def test_content_negotiation(client, published):
    doi = selectors.version_doi(published)
    url = f"/doi/{doi.doi}"
    for key, media in ACCEPT.items():
        r = client.get(url, HTTP_ACCEPT=media)
        assert r.status_code == 200, key
        assert r["Content-Type"].split(";")[0] == media, key
        body = r.content.decode()
        if key == "datacite-json":
            assert json.loads(body)["doi"] == doi.doi and schema45.validate(json.loads(body))
        elif key == "datacite-xml":
            root = etree.fromstring(r.content)
            assert root.find("{http://datacite.org/schema/kernel-4}identifier").text == doi.doi
        elif key == "csl-json":
            item = json.loads(body)
            assert item["DOI"] == doi.doi and item["type"] == "dataset" and item["author"][0]["family"] == "Doe"
        elif key == "bibtex":
            assert body.startswith("@misc{") and f"doi = {{{doi.doi}}}" in body
        elif key == "ris":
            assert "TY  - DATA" in body and f"DO  - {doi.doi}" in body and body.rstrip().endswith("ER  -")
        elif key == "citation":
            assert "Doe, J." in body and f"https://doi.org/{doi.doi}" in body
        elif key == "schemaorg":
            assert json.loads(body)["@type"] == "Dataset"
    styled = client.get(url, HTTP_ACCEPT="text/x-bibliography; style=ieee").content.decode()
    assert styled.startswith("J. Doe") and doi.doi in styled
    assert client.get(url + "?style=vancouver", HTTP_ACCEPT="text/x-bibliography").content.decode().startswith("Doe J")
    assert client.get(url, HTTP_ACCEPT="image/png").status_code == 406
    html = client.get(url, HTTP_ACCEPT="text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    # explicit export links give the same answers
    r = client.get(f"/doi/export/bibtex/{doi.doi}?download=1")
    assert r["Content-Type"].startswith("application/x-bibtex") and "attachment" in r["Content-Disposition"]


def test_landing_page_content(client, published):
    doi = selectors.version_doi(published)
    r = client.get(f"/doi/{doi.doi}")
    page = r.content.decode()
    for needle in ("Demo Chest CT", "Doe, Jane", f"https://doi.org/{doi.doi}", "Version", "Summary", "Cite this dataset",
                   "DICOM Metadata Digest", f"/downloads/versions/{published.pk}/digest.csv", "https://creativecommons.org/licenses/by/3.0/",
                   'name="citation_doi"', 'name="citation_title"', "application/ld+json", 'data-fact="images">12<'):
        assert needle in page, needle
    jsonld = page.split('<script type="application/ld+json">')[1].split("</script>")[0]
    data = json.loads(jsonld)
    assert data["@type"] == "Dataset" and data["identifier"] == doi.https and data["distribution"]
    link = r["Link"]
    for rel in ('rel="cite-as"', 'rel="describedby"', 'rel="item"', 'rel="license"', 'rel="type"'):
        assert rel in link
    # style picker
    assert "J. Doe" in client.get(f"/doi/{doi.doi}?style=ieee").content.decode()


def test_withdrawn_version_is_410_with_citation(client, published, curator):
    doi = selectors.version_doi(published)
    withdraw_version(published, actor=curator, reason="Consent withdrawn for one subject")
    doi.refresh_from_db()
    assert doi.state == DOI.State.REGISTERED
    assert {"date": published.withdrawn_at.date().isoformat(), "dateType": "Withdrawn"} in doi.metadata["dates"]
    r = client.get(f"/doi/{doi.doi}")
    assert r.status_code == 410
    page = r.content.decode()
    assert "Consent withdrawn" in page and "Cite this dataset" in page and f"https://doi.org/{doi.doi}" in page
    assert client.get(f"/downloads/versions/{published.pk}.zip").status_code == 410
    # metadata persists
    assert client.get(f"/doi/{doi.doi}", HTTP_ACCEPT="application/x-bibtex").status_code == 200


def test_gates_block_publication_and_the_page_lists_them(chest, curator_client, curator, monkeypatch):
    from collections_app.services import publish as publish_module
    from curation.services.submissions import create_submission

    def needs_review(collection):
        return [GateFailure("3 images not reviewed", "/curation/review/")]

    # Registered gates judge curation work: give the collection a workspace, and keep only
    # this test's gate so the outcome does not depend on the other apps' gates.
    create_submission(collection=chest, actor=curator)
    monkeypatch.setattr(publish_module, "_GATES", [])
    register_gate(needs_review)
    try:
        with pytest.raises(PublishBlocked) as blocked:
            publish(chest, actor=curator, notes="x")
        assert blocked.value.failures[0].message == "3 images not reviewed"
        assert not CollectionVersion.objects.filter(collection=chest).exists()
        page = curator_client.get(f"/collections/{chest.slug}/publish/").content.decode()
        assert "3 images not reviewed" in page and 'href="/curation/review/"' in page
    finally:
        unregister_gate(needs_review)
    assert publish_module.gate_failures(chest) == []
    page = curator_client.post(f"/collections/{chest.slug}/publish/", publish_form(complete_metadata(), action="preview"))
    assert page.status_code == 200 and not CollectionVersion.objects.filter(collection=chest).exists()
    from publication.models import PublicationDraft

    r = curator_client.post(f"/collections/{chest.slug}/publish/",
                            {"action": "confirm", "digest": PublicationDraft.objects.get(collection=chest).digest})
    assert r.status_code == 302 and r["Location"] == f"/collections/{chest.slug}/versions/1/published/"
    assert "/doi/10.80000/" in curator_client.get(r["Location"]).content.decode()
    # nothing changed → blocked
    with pytest.raises(PublishBlocked):
        publish(chest, actor=curator)


def test_publish_page_is_for_curators_only(client, chest, plain_user):
    client.force_login(plain_user)
    assert client.get(f"/collections/{chest.slug}/publish/").status_code == 404


def test_publish_command(chest, curator):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("publish", chest.slug, "--notes", "Initial release", "--keyword", "CT", "--actor", curator.username, stdout=out)
    assert "version 1" in out.getvalue() and "https://doi.org/10.80000/" in out.getvalue()


def test_digest_csv_per_image_and_per_series(client, published):
    r = client.get(f"/downloads/versions/{published.pk}/digest.csv")
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows[0][:10] == digest.BASE_COLUMNS and rows[0] == digest.IMAGE_COLUMNS
    assert len(rows) == 1 + 12
    by_sop = {row[rows[0].index("SOP Instance UID")]: row for row in rows[1:]}
    for e in published.entries.select_related("stored_file"):
        assert by_sop[e.sop_instance_uid][rows[0].index("SHA256")] == e.stored_file.sha256
    r = client.get(f"/downloads/versions/{published.pk}/digest-series.csv")
    rows = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows[0] == digest.SERIES_COLUMNS and len(rows) == 1 + 4
    assert {row[rows[0].index("Number of Images")] for row in rows[1:]} == {"3"}


def test_concept_landing_series_browser_and_cart_pages(client, published, chest, plain_user):
    concept = selectors.concept_doi(chest)
    page = client.get(f"/doi/{concept.doi}")
    assert page.status_code == 200 and "all versions" in page.content.decode()
    assert "Chicago" in page.content.decode()
    assert "J. Doe" in client.get(f"/doi/{concept.doi}", HTTP_ACCEPT="text/x-bibliography; style=ieee").content.decode()
    browse = client.get(f"/collections/{chest.slug}/series/")
    assert browse.status_code == 200 and "Add selected to cart" in browse.content.decode()
    client.force_login(plain_user)
    client.post("/cart/", {"action": "add", "series": list(Series.objects.filter(collection=chest).values_list("pk", flat=True))})
    cart = client.get("/cart/").content.decode()
    assert "4 series" in cart and "Request a DOI" in cart
    assert client.get(f"/doi/{concept.doi.upper()}").status_code == 200  # DOIs are case-insensitive


def test_registered_gates_apply_only_to_collections_with_a_curation_workspace(chest, curator, monkeypatch):
    from collections_app.services import publish as publish_module
    from curation.services.submissions import create_submission

    monkeypatch.setattr(publish_module, "_GATES", [lambda c: [GateFailure("blocked")]])
    assert publish_module.gate_failures(chest) == []  # demo data: no intake, nothing to judge
    create_submission(collection=chest, actor=curator)
    chest.refresh_from_db()
    assert [f.message for f in publish_module.gate_failures(chest)] == ["blocked"]


def test_an_index_correction_changes_neither_old_zip_paths_nor_old_digest(client, published, chest, curator):
    """A correction that rewrites SeriesDescription and InstanceNumber (through the corrections
    primitive, which updates the index) must not rename anything in version 1's download."""
    from curation.services.corrections import Change, apply_correction

    before_zip = get_zip(client, published)
    before_digest = b"".join(client.get(f"/downloads/versions/{published.pk}/digest.csv").streaming_content)
    series = Series.objects.filter(collection=chest).order_by("series_instance_uid").first()

    def relabel(ds, image):
        old = (str(ds.get("SeriesDescription", "")), str(ds.get("InstanceNumber", "")))
        ds.SeriesDescription = "Renamed by a later correction"
        ds.InstanceNumber = int(ds.InstanceNumber) + 100
        return [Change("SeriesDescription", old[0], "Renamed by a later correction"),
                Change("InstanceNumber", old[1], str(ds.InstanceNumber))]

    apply_correction(collection=chest, images=list(series.images.all()), mutate=relabel, actor=curator,
                     reason="test", kind="tag_edit", summary="relabel")
    series.refresh_from_db()
    assert series.series_description == "Renamed by a later correction"  # the index did change
    assert stable_members(get_zip(client, published)) == stable_members(before_zip)
    after_digest = b"".join(client.get(f"/downloads/versions/{published.pk}/digest.csv").streaming_content)
    assert after_digest == before_digest
    v2 = publish(chest, actor=curator, notes="relabelled")
    names = zipfile.ZipFile(io.BytesIO(get_zip(client, v2))).namelist()
    assert any("Renamed by a later correction" in n for n in names)


def test_an_instance_filed_twice_under_the_collection_blocks_publication(chest, curator):
    """A backstop for misfiling: an image of another collection filed under this collection's
    series, with a SOP Instance UID this collection already has, is named by a gate."""
    from collections_app.models import Collection, Image

    other = Collection.objects.create(slug="other-owner", title="Other", short_name="Other", subject_prefix="OTH")
    image = Image.objects.filter(series__collection=chest).first()
    twin = Image.objects.get(pk=image.pk)
    twin.pk = None
    twin.collection = other
    twin.save()
    with pytest.raises(PublishBlocked) as blocked:
        publish(chest, actor=curator)
    assert image.sop_instance_uid in str(blocked.value)
