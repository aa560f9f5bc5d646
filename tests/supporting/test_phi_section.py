"""Supporting tables in the PHI report: a "Supporting data" section with every column's profile,
flags and disposition; the report cannot be signed while a flagged column is undecided; the
signature covers the section (its digest), and a later change to it invalidates the sign-off."""
import pytest
from django.urls import reverse

from curation.phi import report
from curation.phi.services import SignOffRefused, sign_off, signoff_status
from supporting import services
from tests.supporting.conftest import csv_bytes

pytestmark = pytest.mark.django_db

ROWS = [["PatientID", "Patient Name", "DOB", "Stage"],
        ["PAT-A", "Doe^Jane", "1961-03-04", "II"],
        ["PAT-B", "Roe^Richard", "1958-11-30", "III"]]


def test_the_report_shows_the_section_and_waits_for_every_flagged_column(submission, curator, curator_client):
    collection = submission.collection
    sf = services.attach(collection, name="clinical.csv", data=csv_bytes(ROWS), kind="clinical", actor=curator)
    section = next(s for s in report.sections(collection) if s.title == "Supporting data")
    by_column = {i.field: i for i in section.items}
    assert set(by_column) == {"PatientID", "Patient Name", "DOB", "Stage"}  # every column, flagged or not
    assert "name" in by_column["Patient Name"].kinds and "date" in by_column["DOB"].kinds
    assert not by_column["Stage"].kinds and section.pending == 2
    html = curator_client.get(reverse("curation:phi:report", args=[collection.slug])).content.decode()
    assert 'data-phi-section="Supporting data"' in html and 'data-section-item="clinical.csv:DOB"' in html
    assert "Doe^Jane" not in html  # the section shows profiles, never the values

    with pytest.raises(SignOffRefused, match="2 flagged items without a disposition"):
        sign_off(collection=collection, actor=curator)
    response = curator_client.post(reverse("curation:phi:sign", args=[collection.slug]), {"confirm": "yes"}, follow=True)
    assert "flagged items without a disposition" in response.content.decode()
    assert signoff_status(collection)["signoff"] is None

    services.apply_dispositions(sf, {"Patient Name": "remove", "DOB": "shift_dates"}, actor=curator, reason="PHI")
    assert report.sections(collection)[0].pending == 0
    first = sign_off(collection=collection, actor=curator)
    assert signoff_status(collection)["valid"]

    # The section is in the signature: another table changes the digest and invalidates the sign-off.
    services.attach(collection, name="outcome.csv", data=csv_bytes([["PatientID", "Stage"], ["PAT-A", "I"]]),
                    kind="clinical", actor=curator)
    status = signoff_status(collection)
    assert not status["valid"] and "supporting table" in status["invalidated_by"]
    second = sign_off(collection=collection, actor=curator)
    assert second.digest != first.digest and second.rows == first.rows  # same DICOM value rows, new section


def test_no_tables_no_section_and_the_digest_is_the_value_rows(submission, curator):
    collection = submission.collection
    assert report.sections(collection) == []
    services.attach(collection, name="notes.txt", data=b"plain notes", kind="document", actor=curator)
    assert report.sections(collection) == []  # documents are not tables: nothing to profile
