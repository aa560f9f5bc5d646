"""Findings a curator can clear: dciodvfy on every file (cached by content), proposed fixes for
the common cases, the ignore list by attribute + message, absence is no contradiction, and
findings grouped by message template."""
import copy

import pytest
from pydicom.dataelem import DataElement

from collections_app.models import Image, Series
from curation.checks import engine
from curation.checks.engine import ignored, message_template, parse_dciodvfy
from curation.checks.models import DciodvfyResult, Finding
from curation.checks.services import apply_fix, apply_fixes, run_checks
from curation.models import Correction
from curation.services.corrections import read_image_dataset

from .builders import ingest, make_submission, series, typo_series

pytestmark = pytest.mark.django_db


def open_findings(collection, check=None):
    qs = Finding.objects.filter(collection=collection, status="open")
    return list(qs.filter(check_name=check) if check else qs)


def image_of(collection, ds):
    """The indexed image of a dataset sent (intake remaps UIDs; the instance number stays)."""
    return Image.objects.get(series__collection=collection, instance_number=int(ds.InstanceNumber))


@pytest.fixture
def emptied():
    """A 5-file CT series with ImageType (Type 1) emptied on its fourth file only."""
    submission = make_submission(slug="emptied", prefix="EMPT")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=5)]
    expected = "\\".join(files[0].ImageType)
    files[3].ImageType = ""
    ingest(submission, files)
    return submission, files, expected


def test_a_type1_attribute_emptied_on_one_file_of_a_series_is_found(emptied, django_capture_on_commit_callbacks):
    submission, files, expected = emptied
    collection = submission.collection
    run_checks(collection=collection, checks=["dciodvfy"])
    found = [f for f in open_findings(collection, "dciodvfy") if f.details["attribute"] == "ImageType"]
    assert found and all(f.severity == "error" for f in found)
    bad = image_of(collection, files[3])
    assert all(list(f.images.all()) == [bad] for f in found)
    empty = next(f for f in found if "Empty attribute" in f.message)
    assert "1 of 5 files" in empty.message
    # The proposed fix: the value the other four files have, on that file only.
    assert empty.fix == {"op": "set", "path": "ImageType", "value": expected, "images": [bad.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        correction = apply_fix(finding=empty, actor=None, reason="the site dropped it on one slice")
    correction.refresh_from_db()
    assert correction.state == "applied" and correction.files.count() == 1
    assert "\\".join(read_image_dataset(image_of(collection, files[3])).ImageType) == expected
    run_checks(collection=collection, checks=["dciodvfy"])
    assert open_findings(collection, "dciodvfy") == []


def test_a_sample_is_only_what_the_curator_asks_for(emptied, monkeypatch):
    """One file per series (the old default) misses the emptied file; the default reads all."""
    submission, files, _ = emptied
    calls = []
    real = engine.run_dciodvfy
    monkeypatch.setattr(engine, "run_dciodvfy", lambda stored: calls.append(stored.pk) or real(stored))
    run_checks(collection=submission.collection, checks=["dciodvfy"], dciodvfy_sample="one_per_series")
    assert len(calls) == 1 and open_findings(submission.collection, "dciodvfy") == []
    run_checks(collection=submission.collection, checks=["dciodvfy"])
    assert len(calls) == 5  # the four others now, the first from the cache
    assert open_findings(submission.collection, "dciodvfy")


def test_dciodvfy_results_are_cached_by_file_content(emptied, monkeypatch, django_capture_on_commit_callbacks):
    submission, files, _ = emptied
    collection = submission.collection
    calls = []
    real = engine.run_dciodvfy
    monkeypatch.setattr(engine, "run_dciodvfy", lambda stored: calls.append(stored.sha256) or real(stored))
    run_checks(collection=collection, checks=["dciodvfy"])
    hashes = set(Image.objects.filter(series__collection=collection).values_list("stored_file__sha256", flat=True))
    assert sorted(calls) == sorted(hashes) and set(DciodvfyResult.objects.values_list("sha256", flat=True)) == hashes
    run_checks(collection=collection, checks=["dciodvfy"])
    assert len(calls) == 5  # nothing verified twice
    finding = next(f for f in open_findings(collection, "dciodvfy") if f.fix)
    with django_capture_on_commit_callbacks(execute=True):
        apply_fix(finding=finding, actor=None, reason="fix")
    run_checks(collection=collection, checks=["dciodvfy"])
    new_file = image_of(collection, files[3]).stored_file.sha256
    assert calls[5:] == [new_file]  # only the rewritten file is new to dciodvfy


def test_a_wrong_vr_and_a_retired_attribute_get_fixes(django_capture_on_commit_callbacks):
    submission = make_submission(slug="vr", prefix="VR")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=3)]
    thickness = str(files[0].SliceThickness)
    for d in files:
        del d.SliceThickness
        d.add(DataElement(0x00180050, "LO", thickness))  # SliceThickness is DS
        d.add(DataElement(0x00200050, "DS", "0"))  # Location, retired
    ingest(submission, files)
    collection = submission.collection
    run_checks(collection=collection, checks=["dciodvfy"])
    fixes = {f.fix["op"]: f for f in open_findings(collection, "dciodvfy") if f.fix}
    assert fixes["fix_vr"].fix["path"] == "SliceThickness" and "dictionary VR DS" in fixes["fix_vr"].fix_label
    assert fixes["delete"].fix["path"] == "Location" and "retired" in fixes["delete"].fix_label
    with django_capture_on_commit_callbacks(execute=True):
        [correction] = apply_fixes(findings=list(fixes.values()), actor=None, reason="conformance")
    correction.refresh_from_db()
    assert correction.state == "applied" and correction.files.count() == 3  # one correction for both fixes
    for image in Image.objects.filter(series__collection=collection):
        ds = read_image_dataset(image)
        assert ds[0x00180050].VR == "DS" and str(ds.SliceThickness) == thickness and 0x00200050 not in ds
    run_checks(collection=collection, checks=["dciodvfy"])
    assert open_findings(collection, "dciodvfy") == []


def test_a_missing_type2_attribute_and_a_missing_modality_get_known_values(django_capture_on_commit_callbacks):
    submission = make_submission(slug="known", prefix="KNOWN")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=2)]
    for d in files:
        del d.PatientSex  # Type 2, no file has it: present and empty is right
    del files[1].Modality  # Type 1; CT Image Storage says CT (the other file agrees)
    ingest(submission, files)
    collection = submission.collection
    run_checks(collection=collection, checks=["dciodvfy"])
    by_attr = {f.details["attribute"]: f for f in open_findings(collection, "dciodvfy") if f.fix}
    assert by_attr["PatientSex"].fix["value"] == "" and len(by_attr["PatientSex"].fix["images"]) == 2
    assert by_attr["Modality"].fix["value"] == files[0].Modality
    with django_capture_on_commit_callbacks(execute=True):
        apply_fixes(findings=list(by_attr.values()), actor=None, reason="known values")
    run_checks(collection=collection, checks=["dciodvfy"])
    assert [f.message for f in open_findings(collection, "dciodvfy")] == []


def test_the_ignore_list_matches_attribute_and_message():
    rows = parse_dciodvfy(
        "Warning - </PatientName(0010,0010)[1]> - Value dubious for this VR [PN] = <EMPT-0001> - Retired Person Name form\n"
        "Warning - </ReferringPhysicianName(0008,0090)[1]> - Value dubious for this VR [PN] = <X> - Retired Person Name form\n"
        "Warning - </StudyID(0020,0010)> - Missing attribute or value that would be needed to build DICOMDIR\n"
        "Warning - </InstanceNumber(0020,0013) > - Missing attribute or value that would be needed to build DICOMDIR\n"
    )
    kept = [r["attribute"] for r in rows if not ignored(r, engine.DEFAULT_DCIODVFY_IGNORE)]
    assert kept == ["ReferringPhysicianName", "InstanceNumber"]


def test_absent_is_not_differs_but_two_values_are():
    submission = make_submission(slug="absent", prefix="ABS")
    ct = [d for d, _ in series("PAT-A", "st", "ct", images=2, patient_age="050Y")]
    mr = [d for d, _ in series("PAT-A", "st", "mr", images=2, series_number=2)]
    for d in mr:
        del d.PatientAge
    other = [d for d, _ in series("PAT-B", "st-b", "ct-b", images=2, patient_age="050Y", patient_sex="M")]
    other[1].PatientAge = "060Y"
    ingest(submission, ct + mr + other)
    run_checks(collection=submission.collection, checks=["consistency_study", "consistency_subject"])
    ages = [f for f in open_findings(submission.collection) if f.message.startswith("PatientAge differs")]
    assert len(ages) == 1 and Series.objects.filter(subject=ages[0].subject).count() == 1  # PAT-B, not PAT-A


def test_message_templates_take_values_out_and_keep_attributes():
    a = message_template("SOP Instance UID 1.2.826.0.1.3680043.8.498.1 was received again with conflicting pixel data")
    b = message_template("SOP Instance UID 1.2.826.0.1.3680043.8.498.77 was received again with conflicting pixel data")
    assert a == b and "1.2.826" not in a
    c = message_template("ImageType in module CTImage: </ImageType(0008,0008)> - Empty attribute (no value) (1 of 5 files)")
    d = message_template("ImageType in module CTImage: </ImageType(0008,0008)> - Empty attribute (no value) (3 of 300 files)")
    assert c == d and "(0008,0008)" in c and "ImageType" in c
    assert message_template("references a series of another subject (PAT-B): 1.2.3.4", ["PAT-B"]) == \
        message_template("references a series of another subject (PAT-C): 1.2.3.5", ["PAT-C"])
    assert message_template("PatientSex differs: 'M' ×3, 'F' ×1") == message_template("PatientSex differs: 'O' ×2, 'M' ×5, 'F' ×1")
    assert message_template("SeriesDescription differs") != message_template("PatientSex differs")


def test_planted_series_defects_group_under_one_template():
    submission = make_submission(slug="grouped", prefix="GRP")
    ingest(submission, typo_series(4, "Chest {n}", at=1))
    run_checks(collection=submission.collection, checks=["consistency_series"])
    keys = {f.group_key for f in open_findings(submission.collection)}
    assert len(open_findings(submission.collection)) == 4 and len(keys) == 1


def test_a_group_fix_is_one_correction_all_or_nothing(monkeypatch, django_capture_on_commit_callbacks):
    submission = make_submission(slug="group-fix", prefix="GF")
    ingest(submission, typo_series(3, "Chets"))
    collection = submission.collection
    run_checks(collection=collection, checks=["consistency_series"])
    group = open_findings(collection)
    before = dict(Image.objects.values_list("pk", "stored_file_id"))
    from curation.services import corrections

    real = corrections.reindex_image
    calls = []
    def reindex(**kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected")
        return real(**kw)

    monkeypatch.setattr(corrections, "reindex_image", reindex)
    with django_capture_on_commit_callbacks(execute=True):
        [correction] = apply_fixes(findings=group, actor=None, reason="typo")
    correction.refresh_from_db()
    assert correction.state == "failed" and dict(Image.objects.values_list("pk", "stored_file_id")) == before
    assert all(f.status == "open" for f in open_findings(collection)) and len(open_findings(collection)) == 3
    monkeypatch.setattr(corrections, "reindex_image", real)
    with django_capture_on_commit_callbacks(execute=True):
        [correction] = apply_fixes(findings=group, actor=None, reason="typo")
    correction.refresh_from_db()
    assert correction.state == "applied" and correction.files.count() == 3
    assert Correction.objects.filter(state="applied").count() == 1
    assert open_findings(collection) == []
    assert {read_image_dataset(i).SeriesDescription for i in Image.objects.all()} == {"Chest"}


def test_a_failed_run_tells_the_curator_without_exception_text(emptied, monkeypatch, curator_client):
    from curation.checks.models import CheckRun

    submission, _, _ = emptied

    def broken(ctx):
        raise RuntimeError("OperationalError: database is locked near Doe^Jane")

    monkeypatch.setitem(engine.CHECKS, "rules", ("Conformance (our rules)", broken))
    with pytest.raises(RuntimeError):
        run_checks(collection=submission.collection, checks=["rules"])
    run = CheckRun.objects.get()
    assert run.state == "failed" and "Run them again" in run.error
    status = curator_client.get(f"/curation/checks/runs/{run.pk}/status.json").json()
    html = curator_client.get(f"/curation/checks/{submission.collection.slug}/").content.decode()
    for text in (status["error"], html):
        assert "OperationalError" not in text and "Doe^Jane" not in text
    assert "Run them again" in html
