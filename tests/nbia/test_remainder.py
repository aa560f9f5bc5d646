"""The rest of the NBIA API that TCIA's clients call, each through the real tcia_utils against a
live server: getSimpleSearch (JSON, uids, manifest) with every criterion tcia_utils sends,
getSharedCart (v1 getContentsByName) on a cart shared from the cart page, and the download
servlet that `.tcia` manifests name, spoken as NBIA Data Retriever 4.4 speaks it."""
import datetime as dt
import hashlib
import io
import tarfile

import pytest
import requests
from django.utils import timezone

from collections_app.access import accept_agreement
from collections_app.models import Collection, Series, VersionEntry
from tests.conftest import make_user
from tests.dicomweb.conftest import build_published

PUBLIC, LIMITED = "API-Chest-CT", "API-Brain-MR"


def patients_of(result):
    return sorted(p["subjectId"] for p in result["resultSet"])


def public_series():
    return Series.objects.filter(collection__short_name=PUBLIC)


def patients_in(*collections):
    return sorted(set(Series.objects.filter(collection__short_name__in=collections)
                      .values_list("subject__patient_id", flat=True)))


def agreed_token():
    """A bearer token of a user who accepted the limited collection's agreement."""
    from nbia import tokens

    accept_agreement(user=make_user("ss-reader"), collection=Collection.objects.get(short_name=LIMITED))
    return tokens.password_grant(username="ss-reader", password="pw-ss-reader").access_token


@pytest.mark.django_db(transaction=True)
def test_simple_search_criteria(tcia, live_server):
    build_published()
    public = patients_in(PUBLIC)
    result = tcia.getSimpleSearch(size=100)
    # A limited collection's subjects are data (collections_app.access): not listed to the public,
    # nor counted in the value lists, which count the listed patients.
    assert patients_of(result) == public and result["totalPatients"] == len(public)
    assert {c["value"]: c["count"] for c in result["collections"]} == {PUBLIC: 2}
    assert all(p["authorized"] == 1 for p in result["resultSet"])
    assert tcia.getSimpleSearch(collections=[LIMITED], size=100)["resultSet"] == []

    # With the agreement (a bearer token of a user who accepted it), they are there.
    url = live_server.url + "/nbia-api/services/v4/getSimpleSearch"
    auth = {"Authorization": f"Bearer {agreed_token()}"}
    agreed = requests.post(url, data={"size": "100"}, headers=auth).json()
    assert patients_of(agreed) == patients_in(PUBLIC, LIMITED)
    assert {c["value"]: c["count"] for c in agreed["collections"]} == {PUBLIC: 2, LIMITED: 1}
    assert all(p["authorized"] == 1 for p in agreed["resultSet"])
    mr = requests.post(url, data={"criteriaType0": "ImageModalityCriteria", "value0": "MR", "size": "100"},
                       headers=auth).json()
    assert patients_of(mr) == ["APIMR-0001"]
    brain = requests.post(url, data={"criteriaType0": "BodyPartExaminedCriteria", "value0": "brain", "size": "100"},
                          headers=auth).json()
    assert patients_of(brain) == ["APIMR-0001"]

    assert patients_of(tcia.getSimpleSearch(collections=[PUBLIC], size=100)) == public
    assert tcia.getSimpleSearch(modalities=["MR"], size=100)["resultSet"] == []  # only the limited one has MR
    # Modalities OR-ed by default; "all" (modalityAnded) needs every one: nobody has CT and MR.
    assert len(tcia.getSimpleSearch(modalities=["CT", "MR"], size=100)["resultSet"]) == 2
    assert tcia.getSimpleSearch(modalities=["CT", "MR"], modalityAnded=True, size=100)["resultSet"] == []
    assert patients_of(tcia.getSimpleSearch(bodyParts=["chest"], size=100)) == public
    manufacturer = public_series().first().manufacturer
    assert len(tcia.getSimpleSearch(manufacturers=[manufacturer], size=100)["resultSet"]) >= 2
    assert patients_of(tcia.getSimpleSearch(patients=["APICT-0002"], size=100)) == ["APICT-0002"]
    assert tcia.getSimpleSearch(minStudies=2, size=100) is None or \
        tcia.getSimpleSearch(minStudies=2, size=100)["resultSet"] == []
    assert len(tcia.getSimpleSearch(minStudies=1, size=100)["resultSet"]) == 2
    assert len(tcia.getSimpleSearch(species=["human"], size=100)["resultSet"]) == 2
    assert tcia.getSimpleSearch(species=["mouse"], size=100)["resultSet"] == []

    # Date range on the release date (tcia_utils sends YYYY/MM/DD, converted to MM-DD-YYYY).
    today = timezone.now().date()
    around = dict(fromDate=(today - dt.timedelta(days=1)).strftime("%Y/%m/%d"),
                  toDate=(today + dt.timedelta(days=1)).strftime("%Y/%m/%d"))
    assert len(tcia.getSimpleSearch(size=100, **around)["resultSet"]) == 2
    assert tcia.getSimpleSearch(size=100, fromDate="2001/01/01", toDate="2001/12/31")["resultSet"] == []

    # Paging and sorting.
    first = tcia.getSimpleSearch(size=1, sortField="subject", sortDirection="ascending")
    rest = tcia.getSimpleSearch(start=1, size=2, sortField="subject", sortDirection="ascending")
    assert patients_of(first) + patients_of(rest) == public and first["totalPatients"] == 2
    down = tcia.getSimpleSearch(size=100, sortField="subject", sortDirection="descending")
    assert [p["subjectId"] for p in down["resultSet"]] == sorted(public, reverse=True)


@pytest.mark.django_db(transaction=True)
def test_simple_search_uids_and_manifest(tcia):
    build_published()
    uids = tcia.getSimpleSearch(format="uids")
    # Manifests list what the caller may download: the public collection's series.
    assert sorted(uids) == sorted(public_series().values_list("series_instance_uid", flat=True))
    assert sorted(tcia.getSimpleSearch(modalities=["CT"], patients=["APICT-0001"], format="uids")) == sorted(
        public_series().filter(subject__patient_id="APICT-0001").values_list("series_instance_uid", flat=True))
    text = tcia.getSimpleSearch(collections=[PUBLIC], format="manifest_text")
    assert text.splitlines()[0].startswith("downloadServerUrl=") and text.splitlines()[4] == "manifestVersion=3.0"


@pytest.mark.django_db(transaction=True)
def test_shared_cart_from_the_cart_page(tcia, client):
    build_published()
    chosen = list(public_series().order_by("pk")[:3])
    limited = Series.objects.filter(collection__short_name=LIMITED).first()
    client.post("/cart/", {"action": "add", "series": [s.pk for s in chosen] + [limited.pk]})
    shared = client.post("/cart/share/", {"name": "nbia-49121659384603347"})
    assert shared.status_code == 302 and shared["Location"] == "/cart/shared/nbia-49121659384603347/"
    page = client.get(shared["Location"]).content.decode()
    assert all(s.series_instance_uid in page for s in chosen)
    # The name is taken now; a bad name is refused with a reason.
    again = client.post("/cart/share/", {"name": "nbia-49121659384603347"}, follow=True)
    assert "is taken" in again.content.decode()
    assert "letters, digits" in client.post("/cart/share/", {"name": "no spaces"}, follow=True).content.decode()

    rows = tcia.getSharedCart("nbia-49121659384603347")
    # As NBIA: the API lists the public collections' series only (the limited one is left out).
    assert sorted(r["SeriesInstanceUID"] for r in rows) == sorted(s.series_instance_uid for s in chosen)
    assert list(rows[0])[:3] == ["SeriesInstanceUID", "StudyInstanceUID", "Modality"] and "Date Released" in rows[0]
    assert tcia.getSharedCart("no-such-cart") is None


def _manifest_server(client, version):
    text = client.get(f"/downloads/versions/{version.pk}.tcia").content.decode()
    lines = text.splitlines()
    assert lines[0].startswith("downloadServerUrl=") and lines[0].endswith("/nbia-download/servlet/DownloadServlet")
    return lines[0].split("=", 1)[1], lines[6:]


@pytest.mark.django_db(transaction=True)
def test_manifest_download_server_speaks_the_retriever_protocol(client, live_server):
    v_public, v_limited = build_published()
    server, uids = _manifest_server(client, v_public)
    server = live_server.url + server[server.index("/nbia-download/"):]

    # 1. Version check: a 4.x server (the Retriever then takes its V4 path, no upgrade prompt).
    base = server[:server.rindex("/")]
    version_lines = requests.get(base + "/DownloadServletVersion", params={"os": "Linux", "appVersion": "4.41"}).text.splitlines()
    assert float(version_lines[0]) >= 4.0 and float(version_lines[0]) <= 4.41 and len(version_lines) >= 6
    agreement = requests.get(live_server.url + "/nbia-api/services/v1/getUserAgreementTxt")
    assert agreement.status_code == 200 and agreement.text.strip()

    # 2. Series information, as StandaloneDMV4.connectAndReadFromURL posts it.
    v4 = server + "V4"
    form = {"numberOfSeries": str(len(uids)), **{f"series{i}": u for i, u in enumerate(uids, 1)}}
    info = requests.post(v4, data=form)
    assert info.status_code == 200
    rows = [line.split("|") for line in info.text.splitlines()]
    assert [r[3] for r in rows] == uids and all(len(r) == 24 and all(r) for r in rows)

    # 3. Each series as a TAR, as LocalSeriesDownloader posts it; checked against the version's files.
    for row in rows:
        uid, count, size = row[3], int(row[5]), int(row[6])
        entries = VersionEntry.objects.filter(version=v_public, series__series_instance_uid=uid).select_related("stored_file")
        stored = {e.sop_instance_uid: e.stored_file for e in entries}
        body = requests.post(v4, data={"userId": "nbia_guest", "seriesUid": uid, "sopUids": "", "includeAnnotation": "true",
                                       "hasAnnotation": "false", "newFileNames": "Yes", "getMD5Hash": "Yes"})
        assert body.status_code == 200 and int(body.headers["Content-Length"]) == len(body.content)
        with tarfile.open(fileobj=io.BytesIO(body.content)) as tar:
            members = tar.getmembers()
            images = [m for m in members if "^" in m.name]
            assert len(images) == count and sum(m.size for m in images) == size
            md5 = dict(line.split(",") for line in tar.extractfile("md5hashes.csv").read().decode().splitlines()[1:])
            for m in images:
                sop, name = m.name.split("^")
                data = tar.extractfile(m).read()
                assert hashlib.sha256(data).hexdigest() == stored[sop].sha256
                assert hashlib.md5(data).hexdigest() == md5[name]
        # Resuming: files already on disk are not sent again.
        done = sorted(stored)[:1]
        resumed = requests.post(v4, data={"seriesUid": uid, "sopUids": ",".join(f"'{s}'" for s in done), "newFileNames": "Yes"})
        with tarfile.open(fileobj=io.BytesIO(resumed.content)) as tar:
            assert sorted(m.name.split("^")[0] for m in tar.getmembers()) == sorted(stored)[1:]

    # Limited data: its manifest is for users who accepted the agreement (collections_app.access);
    # the Retriever comes as the guest, so the series list asks for a login (460) and the series
    # itself is refused (403).
    assert client.get(f"/downloads/versions/{v_limited.pk}.tcia").status_code == 403
    reader = make_user("retriever-reader")
    accept_agreement(user=reader, collection=Collection.objects.get(pk=v_limited.collection_id))
    client.force_login(reader)
    _server, limited_uids = _manifest_server(client, v_limited)
    assert limited_uids
    refused = requests.post(v4, data={"numberOfSeries": "1", "series1": limited_uids[0]})
    assert refused.status_code == 460
    assert requests.post(v4, data={"seriesUid": limited_uids[0], "newFileNames": "Yes"}).status_code == 403


@pytest.mark.django_db
def test_retriever_and_cart_sharing_count_against_the_api_throttle(client, settings):
    v_public, _ = build_published()
    uid = public_series().first().series_instance_uid
    servlet = "/nbia-download/servlet/DownloadServletV4"
    settings.TCIA_API_ANON_RATE = "3/minute"
    codes = [client.post(servlet, {"numberOfSeries": "1", "series1": uid}, HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
             for i in range(4)]
    assert codes == [200, 200, 200, 429]  # the forged X-Forwarded-For is not the client
    assert client.post(servlet, {"seriesUid": uid}).status_code == 429
    assert client.get("/nbia-api/services/v4/getCollectionValues").status_code == 429  # one budget
    client.post("/cart/", {"action": "add", "series": [public_series().first().pk]})
    refused = client.post("/cart/share/", {"name": "throttled-cart"}, follow=True)
    assert "Too many requests" in refused.content.decode()
    from nbia.models import SharedCart

    assert not SharedCart.objects.filter(name="throttled-cart").exists()


@pytest.mark.django_db
def test_retriever_series_count_is_a_whole_number(client):
    build_published()
    servlet = "/nbia-download/servlet/DownloadServletV4"
    for bad in ("abc", "-1", "1.5"):
        answer = client.post(servlet, {"numberOfSeries": bad})
        assert answer.status_code == 400 and b"numberOfSeries" in answer.content, bad
    # A count far beyond the form reads only the series the form holds.
    uid = public_series().first().series_instance_uid
    answer = client.post(servlet, {"numberOfSeries": str(10**15), "series1": uid})
    assert answer.status_code == 200 and answer.content.decode().split("|")[3] == uid


@pytest.mark.django_db
def test_simple_search_parameters_are_checked_by_name_and_index(client):
    build_published()
    url = "/nbia-api/services/v4/getSimpleSearch"
    many = {f"criteriaType{i}": "ImageModalityCriteria" for i in range(12)} | {f"value{i}": "CT" for i in range(12)}
    assert client.post(url, many).status_code == 200
    for bad in ("bogus", "criteriaType", "criteriaTypeX", "value-1"):
        answer = client.post(url, {bad: "1"})
        assert answer.status_code == 400 and f"'{bad}'" in answer.content.decode() \
            and "criteriaType{i}" in answer.content.decode(), bad
