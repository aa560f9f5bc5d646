"""QIDO-RS matching in the forms of PS3.18's search examples (§10.6.1, e.g. `PatientID=11235813`,
`00100010=SMITH*`, `StudyDate=20130509-20130510`, `StudyInstanceUID=u1,u2`, repeated
`includefield`, sequence keys such as `OtherPatientIDsSequence.00100020`), on published demo data.
Expected answers are computed from the frozen snapshots directly, not by the code under test."""
import datetime as dt

import pytest

from collections_app.models import VersionSeries


def uids(response, tag="0020000D"):
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/dicom+json"
    return [r[tag]["Value"][0] for r in response.json()]


@pytest.fixture
def snaps(published):
    v_public, _ = published
    return list(VersionSeries.objects.filter(version=v_public))


def studies_where(snaps, pred):
    return sorted({s.study_instance_uid for s in snaps if pred(s)})


@pytest.mark.django_db
def test_single_value_wildcard_and_universal_matching(client, snaps):
    pid = snaps[0].patient_id
    assert sorted(uids(client.get("/dicomweb/studies", {"PatientID": pid}))) == studies_where(snaps, lambda s: s.patient_id == pid)
    # PN matching is case-insensitive; wildcards * and ? (PS3.4 C.2.2.2.4).
    pattern = pid[:3].lower() + "*"
    assert sorted(uids(client.get("/dicomweb/studies", {"00100010": pattern}))) == studies_where(snaps, lambda s: True)
    one_char = pid[:-1] + "?"
    assert sorted(uids(client.get("/dicomweb/studies", {"PatientName": one_char}))) == studies_where(
        snaps, lambda s: s.patient_id[:-1] == pid[:-1])
    # Other text is case-sensitive.
    assert uids(client.get("/dicomweb/studies", {"PatientID": pid.lower()})) == []
    # An empty value is universal matching: it filters nothing.
    assert sorted(uids(client.get("/dicomweb/studies", {"PatientID": "", "AccessionNumber": ""}))) == studies_where(snaps, lambda s: True)


@pytest.mark.django_db
def test_date_ranges_and_uid_lists(client, snaps):
    day = min(s.study_date for s in snaps)
    text = day.strftime("%Y%m%d")
    assert sorted(uids(client.get("/dicomweb/studies", {"StudyDate": text}))) == studies_where(snaps, lambda s: s.study_date == day)
    later = day + dt.timedelta(days=1)
    for value, pred in [
        (f"{text}-{later:%Y%m%d}", lambda s: day <= s.study_date <= later),
        (f"{later:%Y%m%d}-", lambda s: s.study_date >= later),
        (f"-{text}", lambda s: s.study_date <= day),
    ]:
        assert sorted(uids(client.get("/dicomweb/studies", {"StudyDate": value}))) == studies_where(snaps, pred), value
    wanted = sorted({s.study_instance_uid for s in snaps})[:2]
    for joined in (",".join(wanted), "\\".join(wanted)):
        assert sorted(uids(client.get("/dicomweb/studies", {"StudyInstanceUID": joined}))) == wanted
    bad = client.get("/dicomweb/studies", {"StudyDate": "2013-99-99x"})
    assert bad.status_code == 400 and "StudyDate" in bad.json()["error"]


@pytest.mark.django_db
def test_series_and_instance_keys(client, snaps):
    study = snaps[0].study_instance_uid
    in_study = [s for s in snaps if s.study_instance_uid == study]
    got = uids(client.get(f"/dicomweb/studies/{study}/series", {"Modality": "C?"}), "0020000E")
    assert sorted(got) == sorted(s.series_instance_uid for s in in_study if s.modality.startswith("C"))
    number = in_study[0].series_number
    got = uids(client.get(f"/dicomweb/studies/{study}/series", {"SeriesNumber": number}), "0020000E")
    assert got == [s.series_instance_uid for s in in_study if s.series_number == number]
    assert uids(client.get("/dicomweb/studies", {"ModalitiesInStudy": "MR"})) == []
    assert sorted(uids(client.get("/dicomweb/studies", {"ModalitiesInStudy": "CT\\MR"}))) == studies_where(snaps, lambda s: True)
    # Top-level series search with a study-level key.
    pid = snaps[0].patient_id
    got = uids(client.get("/dicomweb/series", {"PatientID": pid, "Modality": "CT"}), "0020000E")
    assert sorted(got) == sorted(s.series_instance_uid for s in snaps if s.patient_id == pid)
    inst = client.get(f"/dicomweb/studies/{study}/series/{in_study[0].series_instance_uid}/instances",
                      {"InstanceNumber": "2"}).json()
    assert [i["00200013"]["Value"][0] for i in inst] == [2]


@pytest.mark.django_db
def test_includefield_paging_warnings_and_errors(client, snaps):
    study = snaps[0].study_instance_uid
    series = snaps[0].series_instance_uid
    # includefield repeated and comma-joined; a tag the tables do not hold comes from the header.
    rows = client.get(f"/dicomweb/studies/{study}/series/{series}/instances?includefield=00180050&includefield=KVP,00280030").json()
    assert all({"00180050", "00180060", "00280030"} <= r.keys() for r in rows)
    everything = client.get(f"/dicomweb/studies/{study}/series/{series}/instances?includefield=all").json()
    assert all("00100020" in r and "00280004" in r for r in everything)

    # limit/offset walk every study once, in a stable order, with the PS3.18 warning while more remain.
    seen, offset = [], 0
    while True:
        page = client.get("/dicomweb/studies", {"limit": 1, "offset": offset})
        if page.status_code == 204:
            break
        seen += uids(page)
        more = "additional results" in page.get("Warning", "")
        offset += 1
        assert more == (offset < len(studies_where(snaps, lambda s: True)))
    assert seen == sorted(studies_where(snaps, lambda s: True))

    # A sequence key (PS3.18 example OtherPatientIDsSequence.00100020) is not supported: ignored, with a warning.
    r = client.get("/dicomweb/studies", {"OtherPatientIDsSequence.00100020": "11235813"})
    assert r.status_code == 200 and "not supported for matching" in r["Warning"] and r["Warning"].startswith("299 ")
    r = client.get("/dicomweb/studies", {"fuzzymatching": "true", "PatientName": "x*"})
    assert "fuzzymatching" in r["Warning"]
    r = client.get("/dicomweb/studies", {"NoSuchKeyword": "1"})
    assert r.status_code == 400 and "NoSuchKeyword" in r.json()["error"]
    r = client.get("/dicomweb/studies", {"limit": "many"})
    assert r.status_code == 400 and "limit" in r.json()["error"]
    assert client.get("/dicomweb/studies", {"PatientID": "nobody"}).status_code == 204
    assert client.get("/dicomweb/studies", HTTP_ACCEPT="text/html").status_code == 406
