"""Posda's round trip: export the report as CSV, edit the disposition column offline, import it
back as proposed dispositions, preview them, apply them as marks. Bad rows are named by row and
column and left out; nothing else is lost."""
import csv
import io

import pytest

from curation.phi.models import PhiImport, PhiMark, PhiValue
from curation.phi.services import mark
from tcia.core.models import AuditEvent
from tests.checks.builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection():
    s = make_submission(slug="phi-rt", prefix="PRT")
    data = [d for d, _ in series("PAT-A", "s1", "a1", images=2, series_description="Chest")]
    data[0].ImageComments = "=HYPERLINK(\"http://x\")"  # a value a spreadsheet would run
    data[1].ImageComments = "  two spaces first"
    ingest(s, data)
    return s.collection


def export(client, collection, query=""):
    body = b"".join(client.get(f"/curation/phi/{collection.slug}/export.csv{query}").streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def upload(client, collection, rows, name="edited.csv", raw=None):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    data = raw if raw is not None else out.getvalue().encode()
    f = io.BytesIO(data)
    f.name = name
    return client.post(f"/curation/phi/{collection.slug}/import/", {"file": f})


def col(rows, name):
    return rows[0].index(name)


def test_export_edit_import_preview_apply(collection, curator, curator_client):
    rows = export(curator_client, collection)
    header = rows[0]
    assert header[:4] == ["key", "element", "vr", "value"] and "disposition" in header and "argument" in header
    by_element = {r[1]: r for r in rows[1:]}
    # values are metaquoted: stray spaces show, and a formula is text, not a formula
    comments = [r for r in rows[1:] if r[1] == "(0020,4000)"]
    assert sorted(r[3] for r in comments) == sorted(['<=HYPERLINK("http://x")>', "<  two spaces first>"])
    d, a = col(rows, "disposition"), col(rows, "argument")
    by_element["(0008,0070)"][d] = "replace"  # Manufacturer
    by_element["(0008,0070)"][a] = "VENDOR"
    by_element["(0008,0020)"][d] = "o"  # StudyDate: Posda's "offset date"
    by_element["(0008,0020)"][a] = "-7"
    comments[0][d] = "remove"
    before = PhiMark.objects.count()
    response = upload(curator_client, collection, rows)
    imp = PhiImport.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/import/{imp.pk}/")
    assert PhiMark.objects.count() == before  # proposed only: nothing is marked before the preview is applied
    preview = curator_client.get(response["Location"]).content.decode()
    assert preview.count("data-proposal") == 3 and imp.errors == []
    assert "<strong>3</strong> proposed" in preview
    assert {(p.value.tag_path, p.action, p.argument) for p in imp.proposals.select_related("value")} == {
        ("(0008,0070)", "replace", "VENDOR"), ("(0008,0020)", "shift", "-7"), ("(0020,4000)", "remove", "")}
    response = curator_client.post(f"/curation/phi/{collection.slug}/import/{imp.pk}/apply/", {"reason": "offline review"})
    assert response.status_code == 302
    manufacturer = PhiValue.objects.get(collection=collection, tag_path="(0008,0070)", present=True)
    assert (manufacturer.disposition, manufacturer.disposition_arg) == ("replace", "VENDOR")
    assert PhiMark.objects.filter(value=manufacturer, reason__contains=f"CSV import #{imp.pk}").exists()
    assert AuditEvent.objects.filter(action="phi.csv_imported").exists()
    imp.refresh_from_db()
    assert imp.state == "applied"
    # applying twice is refused; the report's apply bar now counts three pending dispositions
    assert curator_client.post(f"/curation/phi/{collection.slug}/import/{imp.pk}/apply/").status_code == 302
    assert PhiMark.objects.count() == before + 3
    assert "Apply 3 dispositions" in curator_client.get(f"/curation/phi/{collection.slug}/").content.decode()


def test_bad_rows_are_named_by_row_and_column_and_the_rest_is_kept(collection, curator, curator_client):
    rows = export(curator_client, collection)
    d, a, k, v = col(rows, "disposition"), col(rows, "argument"), col(rows, "key"), col(rows, "value")
    body = rows[1:]
    body[0][d] = "remov"                       # row 2: unknown disposition
    body[1][d], body[1][a] = "shift", "ten"    # row 3: shift needs days
    body[2][d], body[2][k] = "remove", "0" * 40  # row 4: unknown key
    body[3][d], body[3][v] = "remove", "<edited>"  # row 5: value changed
    body[4][d] = "replace"                     # row 6: replace without text
    body[5][d] = "hash"                        # row 7: good
    body[6][d] = "keep"                        # row 8: good
    dup = list(body[5])                        # row 9: the same value as row 7
    already = PhiValue.objects.get(value_hash=body[7][k])
    mark(values=[already], action="remove", actor=curator)
    body[7][d] = "remove"                      # row 10: its current disposition: unchanged
    rows = [rows[0]] + body[:7] + [dup] + body[7:]
    upload(curator_client, collection, rows)
    imp = PhiImport.objects.get()
    errors = {(e["row"], e["column"]): e["message"] for e in imp.errors}
    assert set(errors) == {(2, "disposition"), (3, "argument"), (4, "key"), (5, "value"), (6, "argument"), (9, "key")}
    assert "'remov'" in errors[(2, "disposition")] and "ten" in errors[(3, "argument")]
    assert "row 7" in errors[(9, "key")]
    assert sorted(p.row for p in imp.proposals.all()) == [7, 8]
    assert imp.unchanged == 1 and imp.rows == len(rows) - 1
    html = curator_client.get(f"/curation/phi/{collection.slug}/import/{imp.pk}/").content.decode()
    for row in (2, 3, 4, 5, 6, 9):
        assert f'data-error-row="{row}"' in html


@pytest.mark.parametrize("raw, message", [
    (b"element,vr,value\n(0008,0070),LO,<X>\n", "row 1 (the header) has no"),
    ("key,disposition\nabc,remove\n".encode("utf-16"), "not UTF-8"),
    (b"", "empty"),
])
def test_a_file_that_cannot_be_read_says_why(collection, curator_client, raw, message):
    response = upload(curator_client, collection, [], name="bad.csv", raw=raw)
    assert response.status_code == 400
    assert message in response.content.decode() and "bad.csv" in response.content.decode()
    assert not PhiImport.objects.exists()


def test_discarding_an_import_marks_nothing(collection, curator_client):
    rows = export(curator_client, collection)
    rows[1][col(rows, "disposition")] = "remove"
    upload(curator_client, collection, rows)
    imp = PhiImport.objects.get()
    curator_client.post(f"/curation/phi/{collection.slug}/import/{imp.pk}/discard/")
    imp.refresh_from_db()
    assert imp.state == "discarded" and not PhiMark.objects.exists()
    curator_client.post(f"/curation/phi/{collection.slug}/import/{imp.pk}/apply/")
    assert not PhiMark.objects.exists()
