"""The findings page: groups by check and template with counts, filters, the bulk bar above the
groups, paging, whole-group actions, a preview before fixing, no exception text."""
import re

import pytest

from collections_app.models import Image, Subject
from curation.checks import views
from curation.checks.models import Finding
from curation.checks.services import run_checks
from curation.models import Correction
from curation.services.corrections import read_image_dataset

from .builders import ingest, make_submission, series, typo_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def many():
    """Five subjects, each with a series whose third file has a typo in SeriesDescription, and a
    sixth series with a wrong PatientSex on one file."""
    submission = make_submission(slug="many", prefix="MANY")
    files = typo_series(5)
    odd = [d for d, _ in series("PAT-9", "st9", "se9", images=3)]
    odd[0].PatientSex = "M"
    ingest(submission, files + odd)
    run_checks(collection=submission.collection, checks=["consistency_series", "consistency_subject"])
    return submission.collection


def page(client, collection, **params):
    response = client.get(f"/curation/checks/{collection.slug}/", params)
    assert response.status_code == 200
    return response.content.decode()


def groups_on(html):
    return re.findall(r'<details class="finding-group[^"]*"', html)


def test_findings_are_grouped_by_template_with_counts(many, curator_client):
    typos = Finding.objects.filter(collection=many, message__startswith="SeriesDescription differs")
    assert typos.count() == 5 and typos.values("group_key").distinct().count() == 1
    html = page(curator_client, many)
    assert len(groups_on(html)) == Finding.objects.filter(collection=many).values("group_key").distinct().count()
    group = html[html.index(typos[0].group_key) - 200:]
    assert re.search(r'class="group-count"[^>]*>5<', group)
    assert "SeriesDescription differs within the series" in group and "fix proposed for 5" in group
    # The bulk bar comes before the first group.
    assert html.index('class="bulk-bar"') < html.index('class="finding-group')


def test_filters_by_severity_scope_and_subject(many, curator_client):
    subject = Subject.objects.filter(collection=many).order_by("patient_id").first()
    mine = Finding.objects.filter(collection=many, subject=subject)
    html = page(curator_client, many, subject=subject.patient_id)
    assert f"{mine.count()} finding" in html and len(groups_on(html)) == mine.values("group_key").distinct().count()
    html = page(curator_client, many, scope="subject")
    assert "PatientSex differs within the subject" in html and "SeriesDescription differs" not in html
    html = page(curator_client, many, severity="error")
    assert groups_on(html) == [] and "No finding matches" in html


def test_groups_and_findings_are_paged(many, curator_client, monkeypatch):
    monkeypatch.setattr(views, "GROUPS_PER_PAGE", 1)
    monkeypatch.setattr(views, "FINDINGS_PER_PAGE", 2)
    monkeypatch.setattr(views, "SHOWN_PER_GROUP", 2)
    html = page(curator_client, many)
    assert len(groups_on(html)) == 1 and "Groups page 1 of 2" in html
    assert "Show all 5" in html
    key = Finding.objects.filter(collection=many, message__startswith="SeriesDescription").first().group_key
    first = page(curator_client, many, group=key)
    third = page(curator_client, many, group=key, page=3)
    assert "Findings page 1 of 3" in first and "Findings page 3 of 3" in third
    shown = set(re.findall(r'name="finding" value="(\d+)"', first)) | set(re.findall(r'name="finding" value="(\d+)"', third))
    assert len(shown) == 3  # 2 on page one, 1 on page three (5 in all)


def test_a_ticked_group_waives_all_its_findings(many, curator_client):
    typo = Finding.objects.filter(collection=many, message__startswith="SeriesDescription differs")
    curator_client.post(f"/curation/checks/{many.slug}/bulk/", {"group": [typo[0].group_key], "action": "waive",
                                                               "reason": "the site's own names", "status": "open"})
    assert set(typo.values_list("status", flat=True)) == {"waived"}
    assert Finding.objects.filter(collection=many, status="open").exists()  # the other group is untouched


def test_a_group_fix_is_previewed_then_applied_as_one_correction(many, curator_client, django_capture_on_commit_callbacks):
    typo = Finding.objects.filter(collection=many, message__startswith="SeriesDescription differs")
    form = {"group": [typo[0].group_key], "reason": "typos", "status": "open"}
    preview = curator_client.post(f"/curation/checks/{many.slug}/bulk/", dict(form, action="preview"))
    html = preview.content.decode()
    assert preview.status_code == 200 and "Apply 5 fixes" in html
    assert all(f"Chets {n}" in html for n in range(5)) and "Chest" in html
    assert not Correction.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(f"/curation/checks/{many.slug}/bulk/", dict(form, action="fix"))
    [correction] = Correction.objects.all()
    assert response.status_code == 302 and response["Location"].endswith(f"/corrections/{correction.pk}/")
    assert correction.state == "applied" and correction.files.count() == 5
    assert set(typo.values_list("status", flat=True)) == {"fixed"}
    descriptions = {read_image_dataset(i).SeriesDescription for i in Image.objects.filter(series__subject__patient_id__in=
                    typo.values("subject__patient_id"))}
    assert descriptions == {"Chest"}


def test_a_failed_preview_shows_no_exception_text(many, curator_client, monkeypatch):
    from curation.checks import services

    def broken(**kw):
        raise RuntimeError("OperationalError: database is locked near Doe^Jane")

    monkeypatch.setattr(services, "preview", broken)
    finding = Finding.objects.filter(collection=many, fix__isnull=False).first()
    html = curator_client.get(f"/curation/checks/findings/{finding.pk}/").content.decode()
    assert "could not be previewed" in html and "OperationalError" not in html and "Doe^Jane" not in html
