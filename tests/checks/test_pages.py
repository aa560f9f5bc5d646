"""Pages: staff only (404 for everyone else), findings, fix, tag edit with preview, undo, history."""
import pytest
from django.contrib.auth.models import AnonymousUser  # noqa: F401

from collections_app.models import Image, Series
from curation.checks.models import Finding
from curation.checks.services import run_checks
from curation.models import Correction
from curation.services.corrections import read_image_dataset
from tcia.core.models import AuditEvent

from .builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    submission = make_submission(slug="pages", prefix="PAGES")
    files = [d for d, _ in series("PAT-A", "s1", "a1", images=4, series_description="Chest")]
    files[1].SeriesDescription = "Chets"
    ingest(submission, files)
    run_checks(collection=submission.collection, checks=["consistency_series"])
    return submission


def urls(data):
    c = data.collection
    f = Finding.objects.filter(collection=c).first()
    s = Series.objects.filter(collection=c).first()
    image = Image.objects.filter(series=s).first()
    return [
        f"/curation/checks/{c.slug}/", f"/curation/checks/{c.slug}/edit/", f"/curation/checks/{c.slug}/corrections/",
        f"/curation/checks/findings/{f.pk}/", f"/curation/checks/history/series/{s.pk}/",
        f"/curation/checks/history/image/{image.pk}/", f"/curation/checks/history/subject/{s.subject_id}/",
        f"/curation/checks/history/study/{s.study_id}/",
        f"/curation/phi/{c.slug}/", f"/curation/phi/{c.slug}/export.csv",
    ], [
        f"/curation/checks/{c.slug}/run/", f"/curation/checks/{c.slug}/bulk/", f"/curation/checks/findings/{f.pk}/action/",
        f"/curation/phi/{c.slug}/mark/", f"/curation/phi/{c.slug}/apply/", f"/curation/phi/{c.slug}/sign/",
    ]


@pytest.mark.parametrize("who", ["anonymous", "plain_user", "submitter", "committee_member"])
def test_everyone_but_curators_gets_404(who, data, client, request):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    gets, posts = urls(data)
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"reason": "x", "action": "waive", "confirm": "yes"}).status_code == 404, url
    assert not AuditEvent.objects.filter(action__in=["finding.waived", "phi.signed_off"]).exists()


def test_curators_see_every_page(data, curator_client):
    gets, _ = urls(data)
    for url in gets:
        assert curator_client.get(url).status_code == 200, url
    page = curator_client.get(f"/curation/checks/{data.collection.slug}/").content.decode()
    assert "SeriesDescription differs within the series" in page and "Run checks" in page


def test_apply_a_proposed_fix_from_the_page(data, curator_client, django_capture_on_commit_callbacks):
    finding = Finding.objects.get(collection=data.collection, check_name="consistency_series")
    detail = curator_client.get(f"/curation/checks/findings/{finding.pk}/").content.decode()
    assert "Chets" in detail and "Chest" in detail  # the preview lists old → new
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(f"/curation/checks/findings/{finding.pk}/action/",
                                       {"action": "fix", "reason": "typo from the site"})
    correction = Correction.objects.get(kind="fix")
    assert response.status_code == 302 and correction.state == "applied" and correction.files.count() == 1
    assert {read_image_dataset(i).SeriesDescription for i in Image.objects.all()} == {"Chest"}
    finding.refresh_from_db()
    assert finding.status == "fixed" and finding.correction == correction
    assert AuditEvent.objects.filter(action="correction.fix", reason="typo from the site").exists()
    run_checks(collection=data.collection, checks=["consistency_series"])
    assert not Finding.objects.filter(collection=data.collection, status="open").exists()


def test_tag_edit_preview_then_apply_then_undo(data, curator_client, django_capture_on_commit_callbacks):
    s = Series.objects.get(collection=data.collection)
    form = {"scope": "series", "target": s.series_instance_uid, "path": "BodyPartExamined", "value": "LUNG",
            "reason": "site coded it wrongly"}
    preview = curator_client.post(f"/curation/checks/{data.collection.slug}/edit/", dict(form, action="preview"))
    page = preview.content.decode()
    assert "4 files selected" in page and "CHEST" in page and "LUNG" in page
    assert not Correction.objects.exists()  # a preview writes nothing
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(f"/curation/checks/{data.collection.slug}/edit/", dict(form, action="apply"))
    correction = Correction.objects.get(kind="tag_edit")
    assert correction.files.count() == 4
    assert {read_image_dataset(i).BodyPartExamined for i in Image.objects.all()} == {"LUNG"}
    history = curator_client.get(f"/curation/checks/history/series/{s.pk}/").content.decode()
    assert "site coded it wrongly" in history and "LUNG" in history
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(f"/curation/checks/corrections/{correction.pk}/undo/", {"reason": "wrong after all"})
    assert Correction.objects.filter(kind="undo", undoes=correction, state="applied").exists()
    assert {read_image_dataset(i).BodyPartExamined for i in Image.objects.all()} == {"CHEST"}
    assert AuditEvent.objects.filter(action="correction.undo", reason="wrong after all").exists()


def test_bulk_waive_needs_a_reason(data, curator_client):
    f = Finding.objects.get(collection=data.collection)
    curator_client.post(f"/curation/checks/{data.collection.slug}/bulk/", {"finding": [f.pk], "action": "waive", "reason": ""})
    assert Finding.objects.get(pk=f.pk).status == "open"
    curator_client.post(f"/curation/checks/{data.collection.slug}/bulk/", {"finding": [f.pk], "action": "waive",
                                                                          "reason": "known"})
    assert Finding.objects.get(pk=f.pk).status == "waived"


def test_run_button_runs_every_check_for_the_curator(data, curator, curator_client, django_capture_on_commit_callbacks):
    """The button makes a new run, by the curator, of every check (dciodvfy on every file), and
    its result reaches the findings: a defect made after the fixture's run is found."""
    from curation.checks.models import CheckRun, CheckState, DciodvfyResult

    before = set(CheckRun.objects.values_list("pk", flat=True))
    image = Image.objects.filter(series__collection=data.collection).order_by("instance_number").last()
    from curation.services.corrections import Change, apply_correction

    def empty_image_type(ds, _image):
        old = "\\".join(ds.ImageType)
        ds.ImageType = ""
        return [Change("ImageType", old, "")]

    apply_correction(collection=data.collection, images=[image], mutate=empty_image_type, actor=curator,
                     reason="plant a defect", kind="tag_edit", summary="empty ImageType")
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(f"/curation/checks/{data.collection.slug}/run/")
    assert response.status_code == 302
    [run] = CheckRun.objects.exclude(pk__in=before)
    assert run.state == "done" and run.started_by == curator and run.checks == []
    assert CheckState.objects.get(collection=data.collection).last_run == run
    files = Image.objects.filter(series__collection=data.collection).count()
    assert DciodvfyResult.objects.count() == files  # every file, not one per series
    found = Finding.objects.get(collection=data.collection, check_name="dciodvfy", status="open",
                                message__contains="Empty attribute", details__attribute="ImageType")
    assert found.last_run == run and list(found.images.all()) == [image]


def test_a_sample_is_asked_for_on_the_run_form(data, curator_client, django_capture_on_commit_callbacks):
    from curation.checks.models import CheckRun, DciodvfyResult

    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post(f"/curation/checks/{data.collection.slug}/run/", {"dciodvfy_sample": "one_per_series"})
    assert CheckRun.objects.first().dciodvfy_sample == "one_per_series" and DciodvfyResult.objects.count() == 1
    curator_client.post(f"/curation/checks/{data.collection.slug}/run/", {"dciodvfy_sample": "half"})
    assert CheckRun.objects.filter(dciodvfy_sample="half").count() == 0


def test_phi_page_marks_and_signs(data, curator_client):
    c = data.collection
    page = curator_client.get(f"/curation/phi/{c.slug}/?vr=LO").content.decode()
    assert "(0008,103E)" in page and "Chets" in page
    from curation.phi.models import PhiValue
    v = PhiValue.objects.get(collection=c, tag_path="(0008,103E)", value="Chets")
    curator_client.post(f"/curation/phi/{c.slug}/mark/", {"value": [v.pk], "action": "replace", "argument": "Chest",
                                                          "reason": "typo"})
    assert PhiValue.objects.get(pk=v.pk).disposition == "replace"
    curator_client.post(f"/curation/phi/{c.slug}/sign/", {"confirm": "yes", "statement": "ok"})
    page = curator_client.get(f"/curation/phi/{c.slug}/").content.decode()
    assert "Signed by cur" in page
