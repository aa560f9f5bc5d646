"""Batch de-identification: curation.deid.batch and ``manage.py deidentify`` (no database)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from curation.deid.batch import BatchConfig, format_summary, load_secret, run_batch


def make_tree(root: Path) -> Path:
    src = root / "in"
    (src / "p1" / "s1").mkdir(parents=True)
    (src / "p2").mkdir(parents=True)
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for i in range(3):
        ct.SOPInstanceUID = f"1.2.3.4.{i}"
        ct.PatientID = "PAT-A"
        ct.save_as(src / "p1" / "s1" / f"img{i}.dcm")
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    mr.PatientID = "PAT-B"
    mr.save_as(src / "p2" / "mr.dcm")
    (src / "p2" / "readme.txt").write_text("not dicom")
    good = (src / "p1" / "s1" / "img0.dcm").read_bytes()
    (src / "p2" / "truncated.dcm").write_bytes(good[: len(good) // 2])
    return src


def test_run_batch_mirrors_tree_reports_errors_and_writes_map(tmp_path):
    src = make_tree(tmp_path)
    out = tmp_path / "out"
    cfg = BatchConfig(in_dir=src, out_dir=out, secret=b"k", prefix="COLL")
    s = run_batch(cfg, progress=False)
    assert (s.files, s.ok, s.failed) == (6, 4, 2) and s.exit_code == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "p1/s1/img0.dcm", "p1/s1/img1.dcm", "p1/s1/img2.dcm", "p2/mr.dcm"]
    errs = dict(s.errors)
    assert "not a DICOM file" in errs[str(src / "p2" / "readme.txt")]
    assert "truncated" in errs[str(src / "p2" / "truncated.dcm")]
    rows = list(csv.DictReader(s.subjects_csv.open()))
    assert s.subjects_csv == tmp_path / "out-subjects.csv"
    assert {r["original_patient_id"]: r["subject_id"] for r in rows} == {"PAT-A": "COLL-0001", "PAT-B": "COLL-0002"}
    assert pydicom.dcmread(out / "p2" / "mr.dcm").PatientID == "COLL-0002"
    text = format_summary(s)
    assert "failed: 2" in text and "readme.txt" in text

    # second run re-uses the map: same subjects, same UIDs, no new subject
    out2 = tmp_path / "out2"
    s2 = run_batch(BatchConfig(in_dir=src, out_dir=out2, secret=b"k", prefix="COLL",
                               subjects_csv=s.subjects_csv), progress=False)
    assert s2.new_subjects == 0
    a = pydicom.dcmread(out / "p1" / "s1" / "img1.dcm")
    b = pydicom.dcmread(out2 / "p1" / "s1" / "img1.dcm")
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.StudyDate == b.StudyDate


def test_run_batch_parallel_matches_serial(tmp_path):
    src = make_tree(tmp_path)
    s1 = run_batch(BatchConfig(in_dir=src, out_dir=tmp_path / "o1", secret=b"k"), progress=False)
    s2 = run_batch(BatchConfig(in_dir=src, out_dir=tmp_path / "o2", secret=b"k", workers=2), progress=False)
    assert (s2.ok, s2.failed) == (s1.ok, s1.failed)
    assert (tmp_path / "o1-subjects.csv").read_text().splitlines()[0] == \
        (tmp_path / "o2-subjects.csv").read_text().splitlines()[0]
    for rel in ("p1/s1/img2.dcm", "p2/mr.dcm"):
        a, b = pydicom.dcmread(tmp_path / "o1" / rel), pydicom.dcmread(tmp_path / "o2" / rel)
        assert a.PatientID == b.PatientID and a.SOPInstanceUID == b.SOPInstanceUID


def test_all_failed_gives_exit_code_1(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("x")
    s = run_batch(BatchConfig(in_dir=src, out_dir=tmp_path / "out", secret=b"k"), progress=False)
    assert s.failed == 1 and s.exit_code == 1


def test_secret_file_created_and_reused(tmp_path):
    p = tmp_path / "secret.key"
    s1, note = load_secret(p)
    assert note and p.stat().st_mode & 0o777 == 0o600
    s2, note2 = load_secret(p)
    assert s1 == s2 and not note2


def _django_ready() -> bool:
    try:
        from django.conf import settings
        return bool(settings.configured and "curation" in settings.INSTALLED_APPS)
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(not _django_ready(), reason="Django settings (tcia.settings) not configured")
def test_manage_py_deidentify_command(tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    src = make_tree(tmp_path)
    out = tmp_path / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("deidentify", str(src), str(out), "--options", "tcia", "--prefix", "LUNG",
                 "--secret-file", str(tmp_path / "key"), "--subjects", str(tmp_path / "map.csv"),
                 "--no-progress", stdout=stdout, stderr=stderr)
    text = stdout.getvalue()
    assert "de-identified: 4" in text and "failed: 2" in text and "truncated.dcm" in text
    assert "LUNG-0001" in (tmp_path / "map.csv").read_text()
    assert pydicom.dcmread(out / "p1" / "s1" / "img0.dcm").PatientName == "LUNG-0001"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_text("x")
    with pytest.raises(CommandError) as exc:
        call_command("deidentify", str(bad), str(tmp_path / "o3"), "--secret-file", str(tmp_path / "key"),
                     "--no-progress", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 1
    with pytest.raises(CommandError):
        call_command("deidentify", str(src), str(tmp_path / "o4"), "--options", "bogus",
                     "--secret-file", str(tmp_path / "key"), stdout=io.StringIO(), stderr=io.StringIO())
