"""Researcher feedback: a report from the collection or landing page (logged in or not) reaches
the curators' queue with the collection, version and series it names; bots are turned away by
the honeypot and the per-address limit; a curator answers (e-mailed when asked), links a finding
or a correction and publishes an erratum shown on both public pages. Reporters' e-mails never
appear on public pages."""
import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from curation.checks.models import Finding
from doi.models import DOI
from feedback.forms import HONEYPOT
from feedback.models import Erratum, ProblemReport, ReportReply
from tcia.core.models import AuditEvent

pytestmark = pytest.mark.django_db

EMAIL = "reporter@example.org"


def report_url(version):
    return reverse("report_problem", args=[version.collection.slug])


def form(version, **extra):
    series = version.entries.select_related("series").first().series
    data = {"category": "metadata", "message": "Series 2 is labelled CT but holds MR images.", "version": version.pk,
            "series_uid": series.series_instance_uid, "page": "landing", "name": "Ann Reporter", "email": EMAIL}
    data.update(extra)
    return data


def landing(version):
    return DOI.objects.get(kind="version", version=version).get_absolute_url()


def test_both_public_pages_link_to_the_report_form(published, client):
    collection_page = client.get(reverse("collection_detail", args=[published.collection.slug])).content.decode()
    assert "data-report-problem" in collection_page and report_url(published) in collection_page
    landing_page = client.get(landing(published)).content.decode()
    assert f"{report_url(published)}?from=landing&amp;version={published.pk}" in landing_page
    assert client.get(f"{report_url(published)}?from=landing&version={published.pk}").status_code == 200


def test_an_anonymous_report_reaches_the_queue_with_what_it_names(published, client, curator):
    response = client.post(report_url(published), form(published))
    assert response.status_code == 200 and b"data-report-sent" in response.content
    report = ProblemReport.objects.get()
    series = published.entries.select_related("series").first().series
    assert (report.collection, report.version, report.series, report.page) == (published.collection, published, series, "landing")
    assert report.reporter is None and report.reporter_email == EMAIL and report.state == "open"
    event = AuditEvent.objects.get(action="feedback.report")
    assert EMAIL not in str(event.data) and "Ann" not in str(event.data)  # personal data stays in the report
    staff = Client()
    staff.force_login(curator)
    queue = staff.get(reverse("feedback:queue")).content.decode()
    assert f'data-report="{report.pk}"' in queue and series.series_instance_uid in queue
    detail = staff.get(reverse("feedback:detail", args=[report.pk])).content.decode()
    assert EMAIL in detail and "labelled CT" in detail


def test_a_logged_in_report_and_an_unknown_series(published, client, plain_user):
    client.force_login(plain_user)
    client.post(report_url(published), form(published, series_uid="1.2.3.999", email="", name=""))
    report = ProblemReport.objects.get()
    assert report.reporter == plain_user and report.series is None and report.series_uid == "1.2.3.999"


def test_a_bad_report_says_which_field_is_wrong(published, client):
    response = client.post(report_url(published), form(published, message="", email="not-an-address"))
    assert response.status_code == 400 and not ProblemReport.objects.exists()
    html = response.content.decode()
    assert "Describe the problem: This field is required." in html and "Your e-mail (optional): Enter a valid email address." in html


def test_the_honeypot_turns_bots_away(published, client):
    response = client.post(report_url(published), form(published, **{HONEYPOT: "http://spam.example"}))
    assert response.status_code == 400 and b"could not be accepted" in response.content
    assert not ProblemReport.objects.exists()
    assert client.post(report_url(published), form(published)).status_code == 200  # the same form, field left empty
    assert ProblemReport.objects.count() == 1


@override_settings(TCIA_FEEDBACK_RATE="3/3600")
def test_reports_from_one_address_are_limited(published, client):
    for _ in range(3):
        assert client.post(report_url(published), form(published)).status_code == 200
    refused = client.post(report_url(published), form(published))
    assert refused.status_code == 429 and b"Too many reports" in refused.content and refused["Retry-After"] == "3600"
    assert ProblemReport.objects.count() == 3
    other = Client(REMOTE_ADDR="198.51.100.7")  # another address has its own allowance
    assert other.post(report_url(published), form(published)).status_code == 200


def test_reports_on_a_collection_not_public_are_404(published, client):
    from collections_app.models import Collection, Status

    Collection.objects.filter(pk=published.collection_id).update(status=Status.IN_CURATION)
    assert client.post(report_url(published), form(published)).status_code == 404
    assert not ProblemReport.objects.exists()


def test_a_curator_answers_links_and_publishes_an_erratum(published, client, curator, django_capture_on_commit_callbacks):
    client.post(report_url(published), form(published))
    report = ProblemReport.objects.get()
    staff = Client()
    staff.force_login(curator)
    with django_capture_on_commit_callbacks(execute=True):  # the mail leaves once the answer is committed
        staff.post(reverse("feedback:reply", args=[report.pk]), {"body": "Thank you, we are checking the series.",
                                                                  "email_reporter": "1"})
    reply = ReportReply.objects.get()
    assert reply.author == curator and reply.emailed_to_reporter
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [EMAIL] and "checking the series" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("feedback:reply", args=[report.pk]), {"body": "Recorded without mail."})
    assert len(mail.outbox) == 1 and ReportReply.objects.count() == 2
    report.refresh_from_db()
    assert report.state == "answered"

    finding = Finding.objects.create(collection=published.collection, check_name="consistency_series", severity="warning",
                                     scope="series", message="Modality differs", fingerprint="a" * 64)
    staff.post(reverse("feedback:link", args=[report.pk]), {"finding": finding.pk, "correction": ""})
    report.refresh_from_db()
    assert report.finding == finding
    from demo.services import DEMO_COLLECTIONS, load_demo_collection

    elsewhere = Finding.objects.create(collection=load_demo_collection(DEMO_COLLECTIONS[1], 1, 1, 1, 1),
                                       check_name="x", severity="info", scope="collection", message="m", fingerprint="b" * 64)
    staff.post(reverse("feedback:link", args=[report.pk]), {"finding": elsewhere.pk})
    report.refresh_from_db()
    assert report.finding == finding  # a finding of another collection is refused

    page_url = reverse("collection_detail", args=[published.collection.slug])
    before = client.get(page_url).content.decode()
    assert "data-errata" not in before
    text = "Series 2 of subject 1 is MR, not CT; corrected in version 2."
    staff.post(reverse("feedback:erratum", args=[report.pk]), {"text": text, "version": published.pk})
    erratum = Erratum.objects.get()
    assert erratum.report == report and erratum.version == published and erratum.published_by == curator
    for url in (page_url, landing(published), DOI.objects.get(kind="concept", collection=published.collection).get_absolute_url()):
        html = client.get(url).content.decode()
        assert text in html and f'data-erratum="{erratum.pk}"' in html, url
        assert EMAIL not in html and "Ann Reporter" not in html
    staff.post(reverse("feedback:erratum_withdraw", args=[erratum.pk]))
    assert text not in client.get(page_url).content.decode()
    assert set(AuditEvent.objects.filter(actor=curator).values_list("action", flat=True)) >= {
        "feedback.reply", "feedback.link", "feedback.erratum", "feedback.erratum_withdrawn"}


def test_staff_pages_are_404_to_others(published, client, plain_user):
    client.post(report_url(published), form(published))
    report = ProblemReport.objects.get()
    for url in (reverse("feedback:queue"), reverse("feedback:detail", args=[report.pk])):
        assert client.get(url).status_code == 404
    client.force_login(plain_user)
    assert client.get(reverse("feedback:detail", args=[report.pk])).status_code == 404
    assert client.post(reverse("feedback:reply", args=[report.pk]), {"body": "x"}).status_code == 404
    assert not ReportReply.objects.exists()
