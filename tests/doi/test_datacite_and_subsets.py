"""The DataCite REST provider against a local recording server; subsets and analysis results."""
import base64
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collections_app.models import Series
from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes
from doi import selectors, services
from doi.models import DOI, DatasetStatus, Subset
from doi.services import withdraw_version


class Recorder(BaseHTTPRequestHandler):
    requests: list = []

    def _answer(self, status):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        attrs = dict((body or {}).get("data", {}).get("attributes", {}))
        doi = attrs.get("doi") or self.path.split("/dois/", 1)[-1]
        payload = json.dumps({"data": {"id": doi, "type": "dois", "attributes": {"url": attrs.get("url", ""), **attrs}}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        self._answer(201)

    def do_PUT(self):
        self._answer(200)

    def log_message(self, *args):
        pass


@pytest.fixture
def datacite_server(settings, monkeypatch):
    Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    settings.TCIA_DOI_PROVIDER = "datacite"
    settings.DATACITE_USERNAME = "TCIA.TEST"
    settings.DATACITE_PASSWORD = "secret-pw"
    settings.DATACITE_PREFIX = "10.5072"
    settings.DATACITE_URL = f"http://127.0.0.1:{server.server_address[1]}/"
    settings.TCIA_SITE_URL = "https://archive.example.org"
    yield Recorder.requests
    server.shutdown()
    server.server_close()


def test_datacite_provider_sends_draft_then_publish_then_hide(datacite_server, chest, curator):
    version = publish(chest, actor=curator, notes="First")
    vdoi, concept = selectors.version_doi(version), selectors.concept_doi(chest)
    assert vdoi.provider == "datacite" and vdoi.doi.startswith("10.5072/tcia.")
    assert vdoi.state == DOI.State.FINDABLE and vdoi.last_error == ""
    reqs = datacite_server
    expected_auth = "Basic " + base64.b64encode(b"TCIA.TEST:secret-pw").decode()
    assert all(r["headers"].get("Authorization") == expected_auth for r in reqs)
    assert all(r["headers"].get("content-type", r["headers"].get("Content-Type")) == "application/vnd.api+json" for r in reqs), [r["headers"] for r in reqs][:1]
    mine = [r for r in reqs if r["path"] in ("/dois", f"/dois/{vdoi.doi}") and
            (r["method"] == "PUT" or r["body"]["data"]["attributes"].get("doi") == vdoi.doi)]
    assert [r["method"] for r in mine] == ["POST", "PUT", "PUT"]
    draft, update, show = (r["body"]["data"]["attributes"] for r in mine)
    assert draft["doi"] == vdoi.doi and draft["prefix"] == "10.5072" and "event" not in draft
    assert draft["types"]["resourceTypeGeneral"] == "Dataset" and draft["publisher"] == {"name": "Open Cancer Imaging Archive"}
    assert update["url"] == f"https://archive.example.org/doi/{vdoi.doi}"
    assert {"relatedIdentifier": concept.doi, "relatedIdentifierType": "DOI", "relationType": "IsVersionOf"} in update["relatedIdentifiers"]
    assert show == {"event": "publish", "doi": vdoi.doi}
    # concept DOI was registered too
    assert any(r["method"] == "POST" and r["body"]["data"]["attributes"]["doi"] == concept.doi for r in reqs)

    datacite_server.clear()
    withdraw_version(version, actor=curator, reason="Wrong files")
    hides = [r for r in datacite_server if r["path"] == f"/dois/{vdoi.doi}"]
    assert hides[-1]["body"]["data"]["attributes"] == {"event": "hide", "doi": vdoi.doi}
    sent = hides[0]["body"]["data"]["attributes"]
    assert {"date": version.withdrawn_at.date().isoformat(), "dateType": "Withdrawn"} in sent["dates"]
    vdoi.refresh_from_db()
    assert vdoi.state == DOI.State.REGISTERED


def test_datacite_errors_are_kept_for_a_retry(settings, chest, curator, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    settings.TCIA_DOI_PROVIDER = "datacite"
    settings.DATACITE_USERNAME, settings.DATACITE_PASSWORD, settings.DATACITE_PREFIX = "u", "p", "10.5072"
    settings.DATACITE_URL = "http://127.0.0.1:9/"  # nothing listens there
    version = publish(chest, actor=curator, notes="First")
    vdoi = selectors.version_doi(version)
    assert vdoi.state == DOI.State.DRAFT and "DataCite" in vdoi.last_error
    assert version.number == 1  # the version is frozen regardless; sync() can be retried


def _cart(client, series_ids):
    client.post("/cart/", {"action": "add", "series": series_ids})


def test_subset_request_approval_and_reverse_relations(client, published, chest, curator, plain_user):
    client.force_login(plain_user)
    ids = list(Series.objects.filter(collection=chest).order_by("pk").values_list("pk", flat=True)[:2])
    _cart(client, ids)
    cart_zip = client.get("/downloads/cart.zip")
    assert cart_zip.status_code == 200
    r = client.post("/doi/subsets/request/", {"title": "Two CT series", "description": "Baseline series for a reader study"})
    subset = Subset.objects.get()
    assert r.status_code == 302 and subset.status == DatasetStatus.REQUESTED and subset.items.count() == 2
    assert client.get("/doi/subsets/").status_code == 404  # the queue is for curators
    client.force_login(curator)
    r = client.post(f"/doi/subsets/{subset.pk}/decide/", {"decision": "approve", "note": "ok"})
    subset.refresh_from_db()
    sdoi = DOI.objects.get(subset=subset)
    assert r["Location"] == f"/doi/{sdoi.doi}"
    assert subset.status == DatasetStatus.PUBLISHED and subset.image_count == 6 and len(subset.manifest_sha256) == 64
    vdoi = selectors.version_doi(published)
    rels = {(x["relationType"], x["relatedIdentifier"]) for x in sdoi.metadata["relatedIdentifiers"]}
    assert rels == {("IsPartOf", vdoi.doi), ("IsDerivedFrom", vdoi.doi)}
    vdoi.refresh_from_db()
    back = {(x["relationType"], x["relatedIdentifier"]) for x in vdoi.metadata["relatedIdentifiers"]}
    assert ("HasPart", sdoi.doi) in back and ("IsSourceOf", sdoi.doi) in back
    page = client.get(f"/doi/{sdoi.doi}").content.decode()
    assert "Two CT series" in page and f"/downloads/subsets/{subset.pk}.zip" in page
    z = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"/downloads/subsets/{subset.pk}.zip").streaming_content)))
    assert len([n for n in z.namelist() if n.endswith(".dcm")]) == 6
    # a later version of the collection does not change the frozen subset
    assert services.subset_manifest_digest(subset)[0] == subset.manifest_sha256


def test_analysis_results_are_derived_from_their_sources(curator_client, published, chest, curator):
    seg = store_bytes(b"fake segmentation bytes", content_type="application/octet-stream")
    dataset = services.create_derived(
        actor=curator, slug="chest-ct-segs", title="Lung segmentations for Demo Chest CT", summary="Lung masks.",
        sources=[chest], files=[("segs.zip", seg, "masks")], creators=[{"family": "Roe", "given": "Rick"}],
    )
    ddoi = services.publish_derived(dataset, actor=curator)
    concept = selectors.concept_doi(chest)
    assert {"relatedIdentifier": concept.doi, "relatedIdentifierType": "DOI", "relationType": "IsDerivedFrom"} in ddoi.metadata["relatedIdentifiers"]
    concept.refresh_from_db()
    assert {"relatedIdentifier": ddoi.doi, "relatedIdentifierType": "DOI", "relationType": "IsSourceOf"} in concept.metadata["relatedIdentifiers"]
    assert ddoi.metadata["types"]["resourceType"] == "Analysis Results"
    page = curator_client.get(f"/doi/{ddoi.doi}").content.decode()
    assert "segs.zip" in page and "Roe, Rick" in page
    r = curator_client.get(f"/doi/derived/{dataset.slug}/files/segs.zip", HTTP_RANGE="bytes=0-3")
    assert r.status_code == 206 and b"".join(r.streaming_content) == b"fake"


def test_minor_version_updates_concept_only(published, chest, curator):
    from collections_app.models import Image
    from collections_app.services.indexing import replace_image_file

    image = Image.objects.filter(series__collection=chest).first()
    replace_image_file(image=image, stored_file=store_bytes(b"tiny correction"))
    v2 = publish(chest, actor=curator, notes="minor fix", major=False)
    assert selectors.version_doi(v2) is None
    concept = selectors.concept_doi(chest)
    assert concept.metadata["version"] == "2"
    assert selectors.citable_doi_for_version(v2) == concept
