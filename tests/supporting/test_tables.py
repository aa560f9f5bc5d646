"""Clinical tables: subject IDs mapped through the subject map (keyed hashes, no original
stored), findings for unknown subjects, subjects without images and images without a row;
the column profiler; dispositions as new immutable files with an audit trail; the gate."""
import datetime as dt
import io

import openpyxl
import pytest

from collections_app.models import StoredFile
from collections_app.services.publish import GateFailure, gate_failures
from curation.checks.models import Finding
from curation.models import SubjectMapping
from supporting import services, tables
from supporting.models import ColumnReview, Revision, SupportingFile
from tcia.core.models import AuditEvent
from tests.supporting.conftest import csv_bytes, offset_of, published_id, xlsx_bytes

pytestmark = pytest.mark.django_db

HEADER = ["PatientID", "Patient Name", "MRN", "DOB", "Contact", "Home", "Age", "Stage"]


def clinical_rows():
    return [
        HEADER,
        ["PAT-A", "Doe^Jane", "MRN0012345", "1961-03-04", "(555) 123-4567", "12 Elm Street", "61", "II"],
        ["PAT-B", "Roe^Richard", "MRN0067890", "1958-11-30", "555-987-6543", "7 Oak Avenue", "64", "III"],
        ["PAT-X", "Poe^Edgar", "MRN0099999", "1970-01-15", "555.222.3333", "1 Raven Road", "52", "I"],
    ]


def stored_text(sf) -> str:
    with sf.stored_file.open() as fh:
        return fh.read().decode()


def open_findings(sf):
    return list(services.findings_of(sf).filter(status="open"))


def test_subjects_mapped_and_linkage_findings(submission, curator):
    collection = submission.collection
    # A subject in the map without images (its files never arrived).
    SubjectMapping.objects.create(submission=submission, original_key="0" * 64, subject_id="SUPP-0099", date_offset_days=-2000)
    rows = clinical_rows()
    rows.append(["SUPP-0099", "", "", "", "", "", "40", "I"])  # already a published ID: kept as it is
    sf = services.attach(collection, name="clinical.csv", data=csv_bytes(rows), kind="clinical", actor=curator)

    assert sf.subject_column == "PatientID"  # detected by name
    text = stored_text(sf)
    a, b = published_id(submission, "PAT-A"), published_id(submission, "PAT-B")
    assert f"\n{a}," in text and f"\n{b}," in text
    assert "PAT-A" not in text and "PAT-B" not in text
    findings = open_findings(sf)
    by_kind = {f.fingerprint: f for f in findings}
    assert len(by_kind) == len(findings)
    unknown = [f for f in findings if f.severity == "error"]
    assert len(unknown) == 1 and "row 4" in unknown[0].message and "PAT-X" not in unknown[0].message
    no_images = [f for f in findings if "has a row but no images" in f.message]
    assert [f.message.split("subject ")[1].split(" ")[0] for f in no_images] == ["SUPP-0099"]
    c = published_id(submission, "PAT-C")
    no_row = [f for f in findings if "has images but no row" in f.message]
    assert len(no_row) == 1 and c in no_row[0].message and no_row[0].subject.patient_id == c
    assert all(f.check_name == "supporting_links" for f in findings)

    # The received bytes are not kept, and no original subject ID is anywhere in the database.
    received = services.hashlib.sha256(csv_bytes(rows)).hexdigest()
    assert not StoredFile.objects.filter(sha256=received).exists()
    assert sf.revisions.get().received_sha256 == received
    for model_text in (str(list(AuditEvent.objects.values_list("data", flat=True))),
                       str(list(Revision.objects.values_list("changes", flat=True))),
                       str(list(Finding.objects.values_list("message", "uids", "details"))),
                       str(list(SupportingFile.objects.values_list("info", flat=True)))):
        for original in ("PAT-A", "PAT-B", "PAT-X"):
            assert original not in model_text

    # Fixing the table (dropping the unknown row through a new upload) fixes the finding.
    fixed = [r for r in rows if r[0] != "PAT-X"] + [["PAT-C", "", "", "", "", "", "70", "IV"]]
    services.attach(collection, name="clinical.csv", data=csv_bytes(fixed), kind="clinical", actor=curator, replace=True)
    assert Finding.objects.get(pk=unknown[0].pk).status == "fixed"
    assert Finding.objects.get(pk=no_row[0].pk).status == "fixed"
    assert sf.revisions.count() == 2


def test_profiler_types_and_flags():
    header, rows = clinical_rows()[0], clinical_rows()[1:]
    profile = {p.column: p for p in tables.profile(header, rows, subject_column="PatientID")}
    assert profile["PatientID"].flags == []
    assert "name" in profile["Patient Name"].flags
    assert "mrn" in profile["MRN"].flags
    assert profile["DOB"].type == "date" and "date" in profile["DOB"].flags
    assert profile["Contact"].flags == ["phone"]  # by its values: the column name says nothing
    assert profile["Home"].flags == ["address"]  # likewise
    assert profile["Age"].type == "integer" and profile["Age"].flags == []
    assert profile["Stage"].flags == [] and profile["Stage"].unique == 3
    assert dict(profile["Stage"].values) == {"II": 1, "III": 1, "I": 1}


def test_dispositions_make_a_new_file_with_audit(submission, curator):
    collection = submission.collection
    rows = clinical_rows()[:3]
    sf = services.attach(collection, name="clinical.csv", data=csv_bytes(rows), kind="clinical", actor=curator)
    flagged = set(ColumnReview.objects.filter(supporting_file=sf).values_list("column", flat=True))
    assert flagged == {"Patient Name", "MRN", "DOB", "Contact", "Home"}
    failures = gate_failures(collection)
    assert any("flagged column" in f.message and "5 flagged columns" in f.message for f in failures)

    before = sf.stored_file
    revision = services.apply_dispositions(sf, {"Patient Name": "remove", "DOB": "shift_dates", "MRN": "hash",
                                                "Contact": "remove", "Home": "remove"},
                                           actor=curator, reason="PHI review")
    sf.refresh_from_db()
    assert revision.previous == before and sf.stored_file != before
    assert StoredFile.objects.filter(pk=before.pk).exists()  # the earlier file stays
    out = stored_text(sf).splitlines()
    assert out[0] == "PatientID,MRN,DOB,Age,Stage"
    a = out[1].split(",")
    expected_dob = (dt.date(1961, 3, 4) + dt.timedelta(days=offset_of(submission, "PAT-A"))).isoformat()
    assert a[2] == expected_dob
    assert a[1] != "MRN0012345" and len(a[1]) == 16
    assert "Doe" not in stored_text(sf) and "Elm" not in stored_text(sf)
    changes = {c["column"]: c for c in revision.changes}
    assert changes["DOB"]["cells"] == 2 and changes["MRN"]["cells"] == 2 and changes["Patient Name"]["cells"] == 2
    event = AuditEvent.objects.filter(action="supporting.dispositions").get()
    assert event.actor == curator and event.data["decisions"]["DOB"] == "shift_dates"
    assert not [f for f in gate_failures(collection) if "flagged column" in f.message]


def test_shift_needs_an_offset_else_blanks(submission, curator):
    rows = [["PatientID", "Scan date"], ["PAT-A", "2020-01-02"], ["PAT-X", "2020-02-03"]]
    sf = services.attach(submission.collection, name="dates.tsv", data=csv_bytes(rows, "\t"), kind="clinical")
    revision = services.apply_dispositions(sf, {"Scan date": "shift_dates"}, actor=curator)
    sf.refresh_from_db()
    lines = stored_text(sf).splitlines()
    assert lines[2].split("\t")[1] == ""  # the unknown subject has no offset: blanked, not left as it was
    assert revision.changes[0]["blanked"] == 1


def test_xlsx_table(submission, curator):
    rows = [["Case", "Outcome", "Date of surgery"], ["PAT-A", "alive", dt.datetime(2011, 5, 6)], ["PAT-B", "dead", dt.datetime(2012, 7, 8)]]
    sf = services.attach(submission.collection, name="outcomes.xlsx", data=xlsx_bytes(rows), actor=curator)
    assert sf.kind == "clinical" and sf.subject_column == "Case" and sf.info["rows"] == 2
    with sf.stored_file.open() as fh:
        ws = openpyxl.load_workbook(io.BytesIO(fh.read())).active
    values = [[c.value for c in r] for r in ws.iter_rows()]
    assert [v[0] for v in values[1:]] == [published_id(submission, "PAT-A"), published_id(submission, "PAT-B")]
    assert ColumnReview.objects.filter(supporting_file=sf, column="Date of surgery").exists()
    services.apply_dispositions(sf, {"Date of surgery": "shift_dates", "Outcome": "keep"}, actor=curator)
    sf.refresh_from_db()
    with sf.stored_file.open() as fh:
        ws = openpyxl.load_workbook(io.BytesIO(fh.read())).active
    shifted = ws.cell(row=2, column=3).value
    assert shifted == dt.datetime(2011, 5, 6) + dt.timedelta(days=offset_of(submission, "PAT-A"))  # still a date cell


@pytest.mark.parametrize("name,data,kind,expected", [
    ("bad.csv", b"\xff\xfe\x00garbage", "clinical", "bad.csv: not UTF-8"),
    ("empty.csv", b"", "clinical", "empty.csv: the file is empty"),
    ("nohead.csv", b",a\n1,2\n", "clinical", "nohead.csv: the header row has an empty column name"),
    ("dupes.csv", b"a,a\n1,2\n", "clinical", "dupes.csv: column names repeat: a"),
    ("table.pdf", b"%PDF-1.4", "clinical", "table.pdf: a table must be a .csv, .tsv or .xlsx file"),
    ("x.csv", b"a\n1\n", "nonsense", "x.csv: unknown kind 'nonsense'"),
    ("../evil.csv", b"a\n1\n", "clinical", None),
    ("sub.csv", b"a,b\n1,2\n", "clinical", "sub.csv: no column 'PatientID'"),
])
def test_bad_input_names_file_and_reason(submission, name, data, kind, expected):
    with pytest.raises(services.AttachError) as err:
        services.attach(submission.collection, name=name, data=data, kind=kind,
                        subject_column="PatientID" if name == "sub.csv" else "")
        if name == "../evil.csv":
            raise services.AttachError("attached under its base name")
    if expected:
        assert str(err.value).startswith(expected)
    else:
        assert SupportingFile.objects.get().name == "evil.csv"


def test_gate_registered_and_refuses(submission):
    from collections_app.services.publish import registered_gates
    from supporting.publishing import publication_gate

    assert publication_gate in registered_gates()
    rows = [["PatientID", "Surname"], ["PAT-A", "Doe"]]
    sf = services.attach(submission.collection, name="t.csv", data=csv_bytes(rows))
    failures = publication_gate(submission.collection)
    assert failures == [GateFailure(failures[0].message, f"/curation/supporting/{submission.collection.slug}/")]
    assert "t.csv: Surname" in failures[0].message
    services.detach(sf, actor=None, reason="wrong file")
    assert publication_gate(submission.collection) == []
