"""Curator pages and manage.py attach; the demo's supporting files reach its landing page."""
import json

import pytest
from django.core.management import CommandError, call_command
from django.core.files.uploadedfile import SimpleUploadedFile

from supporting.models import ColumnReview, SupportingFile
from tests.supporting.conftest import csv_bytes, published_id

pytestmark = pytest.mark.django_db


def test_upload_profile_and_dispositions_pages(submission, curator_client):
    from django.test import Client

    collection = submission.collection
    url = f"/curation/supporting/{collection.slug}/"
    assert Client().get(url).status_code == 404  # curators only
    data = csv_bytes([["Subject", "Surname", "Grade"], ["PAT-A", "Doe", "2"], ["PAT-B", "Roe", "3"]])
    answer = curator_client.post(url, {"file": SimpleUploadedFile("path/to/grades.csv", data), "kind": "clinical",
                                       "description": "Grades"}, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200, answer.content
    sf = SupportingFile.objects.get()
    assert json.loads(answer.content) == {"url": f"/curation/supporting/files/{sf.pk}/", "name": "grades.csv"}
    bad = curator_client.post(url, {"file": SimpleUploadedFile("x.csv", b"\xff\xfe"), "kind": "clinical"},
                              HTTP_ACCEPT="application/json")
    assert bad.status_code == 400 and json.loads(bad.content)["error"].startswith("x.csv: not UTF-8")

    listing = curator_client.get(url).content.decode()
    assert 'data-file="grades.csv"' in listing and "1 flagged column still needs a disposition" in listing
    page = curator_client.get(f"/curation/supporting/files/{sf.pk}/").content.decode()
    assert 'data-column="Surname" class="flagged"' in page and 'data-flag="name"' in page
    assert "<code>Doe</code> ×1" in page and published_id(submission, "PAT-A") in page
    assert "has images but no row" in page  # PAT-C

    response = curator_client.post(f"/curation/supporting/files/{sf.pk}/dispositions/", {"d:Surname": "remove", "reason": "names"})
    assert response.status_code == 302
    assert ColumnReview.objects.get(column="Surname").disposition == "remove"
    page = curator_client.get(f"/curation/supporting/files/{sf.pk}/").content.decode()
    assert "Revision 2" in page and "Remove column in Surname: 2 cells" in page and "<code>Doe</code>" not in page
    download = curator_client.get(f"/curation/supporting/files/{sf.pk}/download/")
    assert b"Doe" not in b"".join(download.streaming_content)


def test_attach_command(chest, tmp_path, capsys):
    path = tmp_path / "outcomes.tsv"
    subject = chest.subjects_index.order_by("patient_id").first().patient_id
    path.write_bytes(csv_bytes([["Case", "Phone"], [subject, "555-123-4567"], ["NOBODY", ""]], "\t"))
    call_command("attach", str(path), collection=chest.slug, kind="clinical", description="Outcomes", verbosity=0)
    out = capsys.readouterr().out
    sf = SupportingFile.objects.get(name="outcomes.tsv")
    assert f"sha256 {sf.stored_file.sha256}" in out
    assert "error: outcomes.tsv: row 3 names a subject not in the subject map" in out
    assert "flagged column 'Phone' (phone): needs a disposition" in out
    with pytest.raises(CommandError, match="--collection nope: no such collection"):
        call_command("attach", str(path), collection="nope", verbosity=0)
    with pytest.raises(CommandError, match="outcomes.tsv: the collection already has a supporting file"):
        call_command("attach", str(path), collection=chest.slug, verbosity=0)
    with pytest.raises(CommandError, match="missing.csv: no such file"):
        call_command("attach", str(tmp_path / "missing.csv"), collection=chest.slug, verbosity=0)


def test_demo_supporting_files_on_landing_page(client):
    from demo.services import load_demo
    from doi import selectors

    load_demo()
    from collections_app.models import Collection

    chest = Collection.objects.get(slug="demo-chest-ct")
    doi = selectors.version_doi(chest.latest_version)
    html = client.get(f"/doi/{doi.doi}").content.decode()
    assert 'data-supporting="clinical.csv"' in html and 'data-supporting="annotations-reader1.xml"' in html
    for sf in SupportingFile.objects.filter(collection=chest):
        from curation.checks.models import Finding

        assert not Finding.objects.filter(details__supporting_file=sf.pk, status="open").exists()
    load_demo()  # again: nothing changes
    assert SupportingFile.objects.filter(collection=chest).count() == 2
