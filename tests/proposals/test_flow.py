"""The submitter's side, questions and answers, the chair's decision and the draft collection it
creates, notifications in the portal and by e-mail, and the audit events of decisions."""
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from collections_app.models import Collection
from proposals import services
from proposals.models import Decision, ImmutableError, Notification, Proposal
from tcia.core.models import AuditEvent

from .conftest import complete_fields


def form_data(ct, lung, **over):
    data = {k: str(v) for k, v in complete_fields(**over).items()}
    data.update({"modalities": [ct.pk], "anatomic_sites": [lung.pk]})
    return data


# Registration and the submitter's form --------------------------------------------------------

def _register(client, email, password="a-long-passphrase-42", again=None):
    return client.post(reverse("proposals:register"),
                       {"email": email, "password1": password, "password2": again or password})


@pytest.mark.django_db
def test_self_registration_makes_a_submitter_after_the_emailed_link(client, django_user_model, mailoutbox,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _register(client, "PI@lab.example")
    assert response.status_code == 200 and "Check your e-mail" in response.content.decode()
    user = django_user_model.objects.get(email="PI@lab.example")
    assert user.username == "pi@lab.example" and not user.is_active
    assert client.post(reverse("login"), {"username": "pi@lab.example", "password": "a-long-passphrase-42"}).status_code == 200
    [mail] = mailoutbox
    assert mail.to == ["PI@lab.example"]
    link = re.search(r"https?://\S+/proposals/register/confirm/\S+", mail.body).group(0)
    response = client.get(link, follow=True)
    user.refresh_from_db()
    assert user.is_active and list(user.groups.values_list("name", flat=True)) == ["submitter"]
    assert response.context["user"] == user  # logged in
    assert response.redirect_chain[-1][0] == reverse("proposals:dashboard")
    # The link works once.
    client.logout()
    assert client.get(link).status_code == 400


@pytest.mark.django_db
def test_registration_does_not_reveal_existing_accounts(client, users, mailoutbox, django_capture_on_commit_callbacks):
    owner = users["owner"]
    owner.email = "owner@lab.example"
    owner.save()
    with django_capture_on_commit_callbacks(execute=True):
        taken = _register(client, "owner@lab.example")
        fresh = _register(client, "new@lab.example")
    strip = lambda r: r.content.decode().replace("owner@lab.example", "X").replace("new@lab.example", "X")  # noqa: E731
    csrf = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert taken.status_code == fresh.status_code == 200
    assert csrf.sub("", strip(taken)) == csrf.sub("", strip(fresh))
    assert get_user_model().objects.filter(email__iexact="owner@lab.example").count() == 1
    # Only the owner of the address learns that it has an account.
    told = {m.to[0]: m.body for m in mailoutbox}
    assert "already" in told["owner@lab.example"] and "/accounts/password-reset/" in told["owner@lab.example"]
    assert "/proposals/register/confirm/" in told["new@lab.example"]


@pytest.mark.django_db
def test_registration_rejects_mismatched_passwords(client):
    response = _register(client, "x@example.org", again="other")
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"password2"}


@pytest.mark.django_db
def test_save_draft_then_submit_through_the_form(client, users, ct, lung, django_capture_on_commit_callbacks):
    client.force_login(users["owner"])
    response = client.post(reverse("proposals:create"), {"title": "Half written", "save": "1"})
    proposal = Proposal.objects.get()
    assert response.status_code == 302 and proposal.status == "draft"
    # Submitting an incomplete draft keeps it a draft and says what is missing.
    response = client.post(reverse("proposals:edit", args=[proposal.pk]), {"title": "Half written", "submit": "1"})
    assert response.status_code == 200
    assert {"cancer_type", "modalities", "data_quality"} <= set(response.context["form"].errors)
    proposal.refresh_from_db()
    assert proposal.status == "draft" and proposal.submitted_at is None
    # Complete, then submit: the committee is told.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("proposals:edit", args=[proposal.pk]), {**form_data(ct, lung), "submit": "1"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == "submitted" and proposal.submitted_at is not None
    assert proposal.estimated_size_gb == Decimal("85.50") and list(proposal.modalities.all()) == [ct]
    # Submitted: no more editing.
    assert client.get(reverse("proposals:edit", args=[proposal.pk])).status_code == 403


@pytest.mark.django_db
def test_only_submitters_file_proposals(users):
    with pytest.raises(PermissionDenied):
        services.save_draft(submitter=users["committee"], fields={"title": "Not mine to file"})


# Notifications --------------------------------------------------------------------------------

@pytest.mark.django_db
def test_submission_notifies_the_committee(users, make_proposal):
    mail.outbox.clear()
    proposal = make_proposal("submitted")
    committee = {users["committee"], users["committee2"], users["chair"]}
    rows = Notification.objects.filter(proposal=proposal, kind="submitted")
    assert {n.user for n in rows} == committee
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in committee)
    assert all(len(m.to) == 1 for m in mail.outbox)  # members do not see each other's addresses
    assert all(proposal.title in m.subject and f"/proposals/{proposal.pk}/" in m.body for m in mail.outbox)
    assert not Notification.objects.filter(user=users["owner"]).exists()


@pytest.mark.django_db
def test_question_and_answer_notify_each_side(client, users, make_proposal, django_capture_on_commit_callbacks):
    proposal = make_proposal("submitted")
    mail.outbox.clear()
    client.force_login(users["committee"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("proposals:ask", args=[proposal.pk]), {"text": "Which scanners were used?"})
    question = proposal.questions.get()
    assert question.asked_by == users["committee"]
    note = Notification.objects.get(kind="question")
    assert note.user == users["owner"] and "Which scanners" in note.text
    assert [m.to for m in mail.outbox] == [[users["owner"].email]]

    # The submitter sees the question on the dashboard and answers it.
    mail.outbox.clear()
    client.force_login(users["owner"])
    dashboard = client.get(reverse("proposals:dashboard"))
    assert list(dashboard.context["questions"]) == [question]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("proposals:answer", args=[proposal.pk, question.pk]), {"text": "Two Siemens scanners."})
    assert question.answers.get().text == "Two Siemens scanners."
    recipients = {n.user for n in Notification.objects.filter(kind="answer")}
    assert recipients == {users["committee"], users["chair"], users["admin"]}  # the asker and the chairs
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in recipients)
    assert list(client.get(reverse("proposals:dashboard")).context["questions"]) == []


@pytest.mark.django_db
def test_questions_and_answers_are_reserved_to_their_side(users, make_proposal):
    proposal = make_proposal("submitted")
    with pytest.raises(PermissionDenied):
        services.ask_question(proposal=proposal, asker=users["owner"], text="Can I ask myself?")
    question = services.ask_question(proposal=proposal, asker=users["committee"], text="Consent?")
    with pytest.raises(PermissionDenied):
        services.answer_question(question=question, author=users["committee2"], text="I answer for them")


@pytest.mark.django_db
def test_notifications_page_counts_and_marks_read(client, users, make_proposal):
    make_proposal("submitted", title="First")
    make_proposal("submitted", title="Second")
    client.force_login(users["committee"])
    response = client.get(reverse("proposals:notifications"))
    assert response.context["unread"] == 2
    assert 'aria-label="2 unread"' in response.content.decode()
    first = Notification.objects.filter(user=users["committee"]).order_by("id").first()
    client.post(reverse("proposals:notifications"), {"notification": [first.pk]})
    assert client.get(reverse("proposals:notifications")).context["unread"] == 1
    client.post(reverse("proposals:notifications"), {"all": "1"})
    assert client.get(reverse("proposals:notifications")).context["unread"] == 0
    # Someone else's notifications are untouched.
    assert Notification.objects.filter(user=users["committee2"], read_at__isnull=True).count() == 2


# Decisions ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_accepting_creates_the_draft_collection(client, users, make_proposal, mr, ct, lung,
                                                  django_capture_on_commit_callbacks):
    proposal = make_proposal("submitted", title="Lung CT: screening & follow-up", modalities=[ct, mr])
    services.score(proposal=proposal, member=users["committee"], data_quality=4, scientific_value=5, reuse_potential=3)
    mail.outbox.clear()
    client.force_login(users["chair"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("proposals:decide", args=[proposal.pk]),
            {"outcome": "accept", "reason": "Rare follow-up data, clean protocol."},
            follow=True,
        )
    assert response.status_code == 200
    proposal.refresh_from_db()
    assert proposal.status == "accepted"
    collection = proposal.collection
    assert collection is not None and collection.status == "draft"
    assert collection.title == "Lung CT: screening & follow-up"
    assert collection.slug == "lung-ct-screening-follow-up"
    assert collection.short_name == "Lung-CT-screening-follow-up"
    assert collection.subject_prefix == "Lung-CT-screening-follow-up"
    assert set(collection.modalities.all()) == {ct, mr}
    assert list(collection.anatomic_sites.all()) == [lung]
    assert collection.cancer_type == "Lung Cancer" and collection.license == "CC-BY-4.0"
    assert collection.declared_subjects == 120 and collection.declared_size_bytes == 85_500_000_000
    # The promised counts the completeness check will read.
    assert proposal.promised_subjects == 120 and proposal.promised_series == 480
    # Accepting also opens the curation workspace with those promises.
    submission = collection.submission
    assert (submission.promised_subjects, submission.promised_series) == (120, 480)
    assert len(submission.ae_title) <= 16
    # The collection is a draft: not in the public catalogue.
    assert collection not in Collection.objects.public()
    # The submitter is told, in the portal and by mail; curators learn there is work.
    decision_note = Notification.objects.get(kind="decision", user=users["owner"])
    assert "accept" in decision_note.text and "Rare follow-up" in decision_note.text
    assert Notification.objects.filter(kind="decision", user=users["curator"]).exists()
    assert {m.to[0] for m in mail.outbox} == {users["owner"].email, users["curator"].email}
    # The curator now sees the accepted proposal.
    client.force_login(users["curator"])
    assert client.get(reverse("proposals:detail", args=[proposal.pk])).status_code == 200


@pytest.mark.django_db
def test_names_of_the_draft_collection_are_unique(users, make_proposal):
    Collection.objects.create(title="Brain MR", slug="brain-mr", short_name="Brain-MR", subject_prefix="Brain-MR")
    proposal = make_proposal("submitted", title="Brain MR")
    services.decide(proposal=proposal, chair=users["chair"], outcome="accept", reason="Yes.")
    proposal.refresh_from_db()
    c = proposal.collection
    assert (c.title, c.slug, c.short_name, c.subject_prefix) == ("Brain MR 2", "brain-mr-2", "Brain-MR-2", "Brain-MR-2")


@pytest.mark.django_db
def test_decision_flow_latest_wins_and_is_audited(users, make_proposal):
    proposal = make_proposal("submitted")
    chair = users["chair"]
    services.decide(proposal=proposal, chair=chair, outcome="needs_information", reason="Consent forms?")
    proposal.refresh_from_db()
    assert proposal.status == "needs_information"
    # The submitter can change and resubmit it.
    services.save_draft(submitter=users["owner"], proposal=proposal, fields={"clinical_data": "Consent on file."})
    services.submit(proposal=proposal, actor=users["owner"])
    proposal.refresh_from_db()
    assert proposal.status == "submitted"
    services.decide(proposal=proposal, chair=chair, outcome="defer", reason="Next round.")
    services.decide(proposal=proposal, chair=chair, outcome="reject", reason="Overlaps an existing collection.")
    proposal.refresh_from_db()
    assert proposal.status == "rejected" and proposal.collection is None
    assert proposal.latest_decision.outcome == "reject"
    assert [d.outcome for d in proposal.decisions.all()] == ["reject", "defer", "needs_information"]
    events = AuditEvent.objects.for_object(proposal).filter(action="proposal.decide").order_by("id")
    assert [(e.data["outcome"], e.data["new_status"], e.reason, e.actor_id) for e in events] == [
        ("needs_information", "needs_information", "Consent forms?", chair.pk),
        ("defer", "deferred", "Next round.", chair.pk),
        ("reject", "rejected", "Overlaps an existing collection.", chair.pk),
    ]
    assert AuditEvent.objects.for_object(proposal).filter(action="proposal.submit").count() == 2


@pytest.mark.django_db
def test_accept_is_audited_with_the_collection(users, make_proposal):
    proposal = make_proposal("accepted")
    event = AuditEvent.objects.for_object(proposal).get(action="proposal.decide")
    assert event.data["collection"] == proposal.collection.slug
    assert AuditEvent.objects.for_object(proposal.collection).filter(action="collection.create").exists()


@pytest.mark.django_db
def test_only_the_chair_decides(users, make_proposal):
    proposal = make_proposal("submitted")
    with pytest.raises(PermissionDenied):
        services.decide(proposal=proposal, chair=users["committee"], outcome="accept", reason="I like it")
    # The admin role chairs too.
    services.decide(proposal=proposal, chair=users["admin"], outcome="defer", reason="Next meeting")
    # Leaving the committee removes the chair's right even if the chair group remains.
    users["chair"].groups.remove(Group.objects.get(name="committee"))
    users["chair"]._tcia_roles = None
    with pytest.raises(PermissionDenied):
        services.decide(proposal=proposal, chair=users["chair"], outcome="accept", reason="x")
    assert proposal.decisions.count() == 1


@pytest.mark.django_db
def test_decision_needs_a_reason_and_accepted_is_final(users, make_proposal):
    proposal = make_proposal("submitted")
    with pytest.raises(ValidationError):
        services.decide(proposal=proposal, chair=users["chair"], outcome="accept", reason="   ")
    assert not Decision.objects.exists()
    decision = services.decide(proposal=proposal, chair=users["chair"], outcome="accept", reason="Good.")
    with pytest.raises(PermissionDenied):
        services.decide(proposal=proposal, chair=users["chair"], outcome="reject", reason="Changed my mind")
    decision.reason = "edited"
    with pytest.raises(ImmutableError):
        decision.save()
    assert Collection.objects.filter(status="draft").count() == 1


@pytest.mark.django_db
def test_scoring_closes_with_the_decision(users, make_proposal):
    proposal = make_proposal("rejected")
    with pytest.raises(PermissionDenied):
        services.score(proposal=proposal, member=users["committee"], data_quality=5, scientific_value=5,
                       reuse_potential=5)


# Attachments ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_attachment_upload_and_download(client, users, make_proposal, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    proposal = make_proposal("draft")
    client.force_login(users["owner"])
    upload = SimpleUploadedFile("data-dictionary.csv", b"field,meaning\nage,years\n", content_type="text/csv")
    response = client.post(reverse("proposals:attachment_add", args=[proposal.pk]), {"file": upload}, follow=True)
    attachment = proposal.attachments.get()
    assert attachment.name == "data-dictionary.csv" and attachment.size == 24
    assert "data-dictionary.csv" in response.content.decode()
    download = client.get(attachment.get_absolute_url())
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"field,meaning\nage,years\n"
    assert AuditEvent.objects.for_object(proposal).filter(action="proposal.attach").count() == 1
    # Too large: refused with the reason, nothing stored.
    settings.TCIA_PROPOSAL_ATTACHMENT_MAX_BYTES = 10
    big = SimpleUploadedFile("scan.zip", b"x" * 11)
    response = client.post(reverse("proposals:attachment_add", args=[proposal.pk]), {"file": big}, follow=True)
    assert "scan.zip is 11 bytes" in response.content.decode()
    assert proposal.attachments.count() == 1


@pytest.mark.django_db
def test_demo_proposals_load_once(django_capture_on_commit_callbacks):
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo_proposals")
        call_command("load_demo_proposals")
    assert Proposal.objects.count() == 4
    assert sorted(Proposal.objects.values_list("status", flat=True)) == ["deferred", "draft", "submitted", "submitted"]


def test_the_proposal_form_offers_nuclear_medicine_ultrasound_and_mammography(client, users):
    """Modalities exist before any collection uses them (a data migration), so a proposal can name them."""
    client.force_login(users["owner"])
    html = client.get(reverse("proposals:create")).content.decode()
    for name in ("Nuclear Medicine", "Ultrasound", "Mammography", "Computed Tomography", "Slide Microscopy"):
        assert name in html, name
