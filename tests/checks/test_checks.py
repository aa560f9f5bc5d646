"""The checks find every planted defect, and nothing on a clean set."""
import copy
import datetime

import pytest
from django.core.management import call_command

from collections_app.models import Series
from curation.checks.engine import parse_dciodvfy
from curation.checks.models import CheckState, Finding
from curation.checks.services import run_checks, waive
from curation.dicom.synth import uid_from
from tcia.core.models import AuditEvent

from .builders import ingest, make_submission, rt_chain, rtstruct, series

pytestmark = pytest.mark.django_db


def findings(collection, check=None):
    qs = Finding.objects.filter(collection=collection, status="open")
    if check:
        qs = qs.filter(check_name=check)
    return list(qs)


def describe(collection):
    return "\n".join(f"{f.check_name} {f.severity}: {f.message}" for f in findings(collection))


@pytest.fixture
def clean_set():
    submission = make_submission(slug="clean-set", prefix="CLEAN")
    a1 = series("PAT-A", "a-study", "a-ct", images=4)
    a2 = series("PAT-A", "a-study", "a-ct2", images=3, series_number=2, series_description="Second")
    b1 = series("PAT-B", "b-study", "b-ct", images=4, patient_sex="M", patient_age="050Y")
    chain = rt_chain("PAT-A", "a-study", "a-ct", [d for d, _ in a1])
    ingest(submission, [d for d, _ in a1 + a2 + b1] + chain)
    return submission


def test_a_clean_set_raises_no_finding(clean_set):
    run = run_checks(collection=clean_set.collection)  # the defaults: dciodvfy on every file
    assert run.state == "done"
    assert findings(clean_set.collection) == [], describe(clean_set.collection)
    assert CheckState.objects.get(collection=clean_set.collection).stale is False


@pytest.fixture
def planted():
    """One submission with every defect the issue names, each in its own place."""
    submission = make_submission(slug="planted", prefix="PLANT")
    a = series("PAT-A", "a-study", "a-ct", images=4)
    files = [d for d, _ in a]
    # 1. the same SOP Instance UID with other pixels (conflicting content)
    conflicting = series("PAT-A", "a-study", "a-ct", images=1, pixel_seed=7)[0][0]
    # 2. the same SOP Instance UID, same pixels, one header value changed
    identical = copy.deepcopy(a[1][0])
    identical.ContentTime = "101010"
    # 2b. the same instance again in another encoding: the same content, not a duplicate
    implicit = copy.deepcopy(a[3][0])
    implicit.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    # 3. the same pixels under another subject
    stolen = copy.deepcopy(a[2][0])
    stolen.PatientID, stolen.PatientName = "PAT-B", "Doe^B"
    stolen.StudyInstanceUID = uid_from("study:b-other")
    stolen.SeriesInstanceUID = uid_from("series:b-other")
    stolen.SOPInstanceUID = stolen.file_meta.MediaStorageSOPInstanceUID = uid_from("sop:b-other")
    # 4. an inconsistent SeriesDescription
    desc = [d for d, _ in series("PAT-A", "a-study", "a-desc", images=4, series_number=3, series_description="Chest")]
    desc[2].SeriesDescription = "Chest typo"
    # 5. a gap in a series
    gap = [d for d, _ in series("PAT-A", "a-study", "a-gap", images=6, series_number=4)]
    del gap[3]
    # 6. an RTDOSE whose plan is missing (the plan is never sent)
    struct, plan, dose = rt_chain("PAT-A", "a-study", "a-ct", files, key="rt-a")
    # 7. an RTSTRUCT of PAT-B pointing at PAT-A's series
    b = series("PAT-B", "b-study", "b-ct", images=3, patient_sex="M")
    foreign = rtstruct("PAT-B", b[0][0].StudyInstanceUID, "rt-b-struct", a[0][0].SeriesInstanceUID,
                       a[0][0].FrameOfReferenceUID, [d.SOPInstanceUID for d in files], like=b[0][0])
    # 8. a file dciodvfy rejects: a CT without its Type 1 ImageType, alone in its series
    bad = series("PAT-A", "a-study", "a-bad", images=1, series_number=9)[0][0]
    del bad.ImageType
    ingest(submission, files + [conflicting, identical, implicit, stolen] + desc + gap + [struct, dose]
           + [d for d, _ in b] + [foreign, bad])
    return submission, {"a": a, "desc": desc, "gap": gap, "dose": dose, "foreign": foreign, "bad": bad, "plan": plan}


def test_every_planted_defect_is_found(planted):
    submission, parts = planted
    collection = submission.collection
    run_checks(collection=collection)
    text = describe(collection)

    dup = {f.details["kind"]: f for f in findings(collection, "duplicate_sop")}
    assert set(dup) == {"conflicting", "headers"}, text  # the re-encoded resend is no duplicate
    assert dup["conflicting"].severity == "error" and "conflicting pixel data" in dup["conflicting"].message
    assert dup["conflicting"].fix["op"] == "use_received"
    assert dup["headers"].severity == "warning" and "identical pixel data" in dup["headers"].message
    assert "ContentTime" in dup["headers"].message

    pixels = [f for f in findings(collection, "duplicate_pixels") if f.severity == "error"]
    assert len(pixels) == 1 and "2 subjects" in pixels[0].message, text

    desc = [f for f in findings(collection, "consistency_series") if "SeriesDescription" in f.message]
    assert len(desc) == 1
    assert desc[0].fix == {"op": "set", "path": "SeriesDescription", "value": "Chest", "images": desc[0].fix["images"]}
    assert len(desc[0].fix["images"]) == 1

    geometry = " | ".join(f.message for f in findings(collection, "geometry"))
    assert "Gap in ImagePositionPatient" in geometry and "Gap in InstanceNumber: 1 missing (4)" in geometry

    linkage = [f.message for f in findings(collection, "linkage")]
    assert any("RTDOSE references a plan which is not known" in m for m in linkage), linkage
    assert any("RTSTRUCT references a series of another subject" in m for m in linkage), linkage

    dciodvfy = findings(collection, "dciodvfy")
    assert any(f.severity == "error" and f.details["attribute"] == "ImageType" for f in dciodvfy), text
    bad_series = Series.objects.get(collection=collection, series_number="9")
    assert {f.series_id for f in dciodvfy} == {bad_series.pk}, text


def test_rerunning_does_not_duplicate_and_resolves_what_is_gone(planted, curator):
    submission, _ = planted
    collection = submission.collection
    run_checks(collection=collection, checks=["consistency_series", "geometry"])
    first = {f.fingerprint for f in Finding.objects.filter(collection=collection)}
    run_checks(collection=collection, checks=["consistency_series", "geometry"])
    assert {f.fingerprint for f in Finding.objects.filter(collection=collection)} == first
    # Waive one; it stays waived on the next run.
    gap = Finding.objects.get(collection=collection, message__startswith="Gap in InstanceNumber")
    waive(findings=[gap], actor=curator, reason="the site never sent slice 4")
    assert AuditEvent.objects.filter(action="finding.waived", reason="the site never sent slice 4").exists()
    run_checks(collection=collection, checks=["consistency_series", "geometry"])
    assert Finding.objects.get(pk=gap.pk).status == "waived"


def test_a_missing_plan_reference_and_an_unsent_plan(planted):
    submission, parts = planted
    run_checks(collection=submission.collection, checks=["linkage"])
    dose = [f for f in findings(submission.collection, "linkage") if "RTDOSE" in f.message]
    assert len(dose) == 1 and dose[0].severity == "error"


def test_command_runs_with_progress(clean_set, capsys):
    call_command("run_checks", "--collection", clean_set.collection.slug)
    out = capsys.readouterr()
    assert "0 error, 0 warning, 0 info" in out.out
    assert Finding.objects.filter(collection=clean_set.collection).count() == 0


def test_new_files_mark_checks_stale(clean_set):
    run_checks(collection=clean_set.collection)
    assert CheckState.objects.get(collection=clean_set.collection).stale is False
    ingest(clean_set, [d for d, _ in series("PAT-C", "c-study", "c-ct", images=3)])
    state = CheckState.objects.get(collection=clean_set.collection)
    assert state.stale and "new files" in state.stale_reason


def test_parse_dciodvfy_output():
    text = (
        "CTImage\n"
        "Error - </Laterality(0020,0060)> - Attribute present when condition unsatisfied - Module=<GeneralSeries>\n"
        "Warning - </PatientWeight(0010,1030)[1]> - Value is zero\n"
        "Error - Missing attribute Type 1 Required Element=</ImageType(0008,0008)> Module=<CTImage>\n"
    )
    rows = parse_dciodvfy(text)
    assert [(r["level"], r["attribute"], r["tag"], r["module"]) for r in rows] == [
        ("error", "Laterality", "(0020,0060)", "GeneralSeries"),
        ("warning", "PatientWeight", "(0010,1030)", ""),
        ("error", "ImageType", "(0008,0008)", "CTImage"),
    ]


def test_completeness_against_promises(clean_set):
    clean_set.promised_subjects = 5
    clean_set.promised_series = 4
    clean_set.save()
    run_checks(collection=clean_set.collection, checks=["completeness"])
    messages = sorted(f.message for f in findings(clean_set.collection, "completeness"))
    assert messages[0].startswith("2 of 5 promised subjects received")
    assert "more than the 4 promised" in messages[1]


def test_consistency_within_study_and_subject():
    submission = make_submission(slug="cons", prefix="CONS")
    s1 = [d for d, _ in series("PAT-A", "st", "x1", images=3)]
    s2 = [d for d, _ in series("PAT-A", "st", "x2", images=3, series_number=2, study_description="Other")]
    later = [d for d, _ in series("PAT-A", "st-later", "x3", images=3, patient_sex="M", patient_age="050Y",
                                  study_date=datetime.date(2015, 1, 1))]
    ingest(submission, s1 + s2 + later)
    run_checks(collection=submission.collection, checks=["consistency_study", "consistency_subject"])
    text = describe(submission.collection)
    assert "StudyDescription differs within the study" in text
    assert "PatientSex differs within the subject" in text
    assert "Ages contradict study dates" in text
