"""The permission matrix: every role × every proposal state × every page.

Expected answers are written out here from the rules of the issue, not derived from the code:
submitters see only their own proposals, committee members see submitted (non-draft) ones,
curators see accepted ones, the public sees none. What you may not see is a 404; an action on
a proposal you can see but may not take is a 403.
"""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from proposals import services
from proposals.models import Proposal, ProposalStatus

ROLES = ["anonymous", "owner", "other_submitter", "committee", "chair", "curator", "admin"]
STATES = [s.value for s in ProposalStatus]
NON_DRAFT = set(STATES) - {"draft"}
REVIEWABLE = {"submitted", "needs_information", "deferred"}


def can_read(role, state):
    return {
        "anonymous": False,
        "owner": True,
        "other_submitter": False,
        "committee": state in NON_DRAFT,
        "chair": state in NON_DRAFT,
        "curator": state == "accepted",
        "admin": state in NON_DRAFT,
    }[role]


def allowed(role, state, page):
    """200 for pages the role may use on a proposal in this state."""
    if page in ("detail", "attachment"):
        return True
    if page == "edit":
        return role == "owner" and state in ("draft", "needs_information")
    if page == "score":
        return role in ("committee", "chair", "admin") and state in REVIEWABLE
    if page == "decide":
        return role in ("chair", "admin") and state in REVIEWABLE | {"rejected"}
    raise AssertionError(page)


def expected_status(role, state, page):
    if not can_read(role, state):
        return 404
    return 200 if allowed(role, state, page) else 403


PAGES = ["detail", "edit", "score", "decide", "attachment"]


@pytest.fixture
def proposal_in(make_proposal, users):
    def build(state):
        p = make_proposal(ProposalStatus.DRAFT)
        attachment = services.add_attachment(
            proposal=p, user=users["owner"], uploaded=SimpleUploadedFile("protocol.txt", b"scan protocol")
        )
        if state != "draft":
            p = make_proposal(state, title=f"Proposal {state}")
            attachment = p.attachments.create(
                name="protocol.txt", file=attachment.file.name, size=13, uploaded_by=users["owner"]
            )
        return p, attachment

    return build


def url_for(page, proposal, attachment):
    if page == "attachment":
        return reverse("proposals:attachment", args=[proposal.pk, attachment.pk])
    return reverse(f"proposals:{page}", args=[proposal.pk])


@pytest.mark.django_db
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_matrix(client, users, proposal_in, role, state):
    proposal, attachment = proposal_in(state)
    assert proposal.status == state
    if role != "anonymous":
        client.force_login(users[role])
    got = {page: client.get(url_for(page, proposal, attachment)).status_code for page in PAGES}
    want = {page: expected_status(role, state, page) for page in PAGES}
    assert got == want


@pytest.mark.django_db
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_visible_to_matches_the_rule(users, make_proposal, role, state):
    proposal = make_proposal(state)
    user = users.get(role)
    from django.contrib.auth.models import AnonymousUser

    visible = Proposal.objects.visible_to(user or AnonymousUser())
    assert (proposal in visible) is can_read(role, state)


BOARD_AND_DASHBOARD = {
    # role: (board, dashboard, notifications)
    "anonymous": (404, 404, 404),
    "owner": (404, 200, 200),
    "other_submitter": (404, 200, 200),
    "committee": (200, 200, 200),
    "chair": (200, 200, 200),
    "curator": (404, 200, 200),
    "admin": (200, 200, 200),
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_board_dashboard_notifications(client, users, role):
    if role != "anonymous":
        client.force_login(users[role])
    got = tuple(
        client.get(reverse(name)).status_code
        for name in ("proposals:board", "proposals:dashboard", "proposals:notifications")
    )
    assert got == BOARD_AND_DASHBOARD[role]


@pytest.mark.django_db
def test_user_without_role_sees_nothing(client, make_proposal, django_user_model):
    make_proposal("accepted")
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    assert client.get(reverse("proposals:dashboard")).status_code == 404
    assert client.get(reverse("proposals:board")).status_code == 404
    assert client.get(reverse("proposals:create")).status_code == 404


@pytest.mark.django_db
def test_board_lists_only_what_the_member_may_see(client, users, make_proposal):
    make_proposal("draft", title="Secret draft")
    make_proposal("submitted", title="Open for review")
    client.force_login(users["committee"])
    body = client.get(reverse("proposals:board")).content.decode()
    assert "Open for review" in body
    assert "Secret draft" not in body


@pytest.mark.django_db
def test_dashboard_shows_only_own_proposals(client, users, make_proposal):
    make_proposal("submitted", title="Mine")
    make_proposal("submitted", title="Theirs", owner=users["other_submitter"])
    client.force_login(users["owner"])
    body = client.get(reverse("proposals:dashboard")).content.decode()
    assert "Mine" in body and "Theirs" not in body


@pytest.mark.django_db
def test_posting_actions_follows_the_same_rules(client, users, make_proposal):
    proposal = make_proposal("submitted")
    # Another submitter cannot even see it.
    client.force_login(users["other_submitter"])
    assert client.post(reverse("proposals:score", args=[proposal.pk]), {}).status_code == 404
    # The owner sees it but may not score or decide.
    client.force_login(users["owner"])
    score = {"data_quality": 5, "scientific_value": 5, "reuse_potential": 5}
    assert client.post(reverse("proposals:score", args=[proposal.pk]), score).status_code == 403
    assert client.post(
        reverse("proposals:decide", args=[proposal.pk]), {"outcome": "accept", "reason": "mine"}
    ).status_code == 403
    # A plain committee member may score but not decide.
    client.force_login(users["committee"])
    assert client.post(
        reverse("proposals:decide", args=[proposal.pk]), {"outcome": "accept", "reason": "x"}
    ).status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "submitted" and not proposal.scores.exists()
