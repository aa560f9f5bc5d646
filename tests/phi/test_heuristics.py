"""The likely-PHI heuristics on a labelled set of synthesized values (tests/phi/data/phi_labels.csv,
labelled by how each value was made): times are never IDs, device and station names are never
names, person names and IDs are found. bench/phi_heuristics.py prints the same set's figures."""
import csv
from pathlib import Path

import pytest

from curation.phi.report import phi_kinds

LABELS = Path(__file__).parent / "data" / "phi_labels.csv"
KINDS = ("name", "date", "id", "address", "phone", "email")


def rows():
    with open(LABELS, newline="") as fh:
        return [(r["keyword"], r["vr"], r["value"], {k for k in r["kinds"].split(";") if k}) for r in csv.DictReader(fh)]


def test_the_labelled_set_is_large_and_covers_every_kind():
    data = rows()
    assert len(data) >= 200
    for kind in KINDS:
        assert sum(kind in truth for *_, truth in data) >= 8, kind
    assert sum(vr == "TM" for _, vr, _, _ in data) >= 20
    assert sum(not truth for *_, truth in data) >= 80  # values that are nothing PHI-like


def test_plain_times_are_not_flagged():
    times = [(k, vr, v) for k, vr, v, truth in rows() if vr == "TM" or k.startswith("SIEMENS CSA")]
    assert len(times) >= 30
    for keyword, vr, value in times:
        assert phi_kinds(keyword, vr, value) == [], (keyword, vr, value)
    assert phi_kinds("StudyTime", "TM", "101500.000000") == []
    assert phi_kinds("StudyTime", "TM", "101500") == []
    assert phi_kinds("Private", "UN", "101500.000000") == []


def test_device_and_station_names_are_not_names():
    for keyword in ("StationName", "ManufacturerModelName", "SecondaryCaptureDeviceManufacturerModelName", "ProtocolName"):
        assert "name" not in phi_kinds(keyword, "SH" if keyword == "StationName" else "LO", "DCTOOL100"), keyword
    devices = [(k, vr, v) for k, vr, v, truth in rows() if not truth and ("Name" in k or k in ("Manufacturer",))]
    assert len(devices) >= 10
    for keyword, vr, value in devices:
        assert "name" not in phi_kinds(keyword, vr, value), (keyword, value)


def test_people_ids_and_dates_are_flagged():
    assert "name" in phi_kinds("PatientName", "PN", "Doe^John")
    assert "name" in phi_kinds("ImageComments", "LT", "Dr. Alan Turing reviewed")
    assert "name" not in phi_kinds("PatientName", "PN", "LUNG-0001")  # a subject ID, not a person
    assert "id" in phi_kinds("PatientName", "PN", "LUNG-0001")
    assert "id" in phi_kinds("OtherPatientIDs", "LO", "MRN1234567")
    assert "date" in phi_kinds("StudyComments", "LT", "scan 2014-03-12")
    assert "id" not in phi_kinds("StudyComments", "LT", "20140312")  # a date, not an ID
    assert "id" not in phi_kinds("PatientTelephoneNumbers", "SH", "555-716-3119")


@pytest.mark.parametrize("kind", KINDS)
def test_precision_and_recall_on_the_labelled_set(kind):
    tp = fp = fn = 0
    misses = []
    for keyword, vr, value, truth in rows():
        got, want = kind in phi_kinds(keyword, vr, value), kind in truth
        tp += got and want
        fp += got and not want
        fn += want and not got
        if got != want:
            misses.append((keyword, vr, value))
    assert tp / (tp + fp) >= 0.95, misses
    assert tp / (tp + fn) >= 0.95, misses
