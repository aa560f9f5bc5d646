"""Blind scoring, superseded scores, the weighted ranking and the audit trail of scores."""
import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.urls import reverse

from proposals import selectors, services
from proposals.models import ImmutableError, Score, ScoreWeights
from tcia.core.models import AuditEvent


def give(member, proposal, dq, sv, rp, comment=""):
    return services.score(
        proposal=proposal, member=member, data_quality=dq, scientific_value=sv, reuse_potential=rp, comment=comment
    )


# Blind scoring ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_other_members_scores_are_hidden_until_you_score(client, users, make_proposal):
    proposal = make_proposal("submitted")
    give(users["committee2"], proposal, 2, 3, 4, comment="UNIQUE-COMMENT-OF-MEMBER-TWO")
    client.force_login(users["committee"])
    url = reverse("proposals:score", args=[proposal.pk])

    before = client.get(url)
    body = before.content.decode()
    assert before.status_code == 200
    assert "UNIQUE-COMMENT-OF-MEMBER-TWO" not in body
    assert "member2" not in body
    assert 'id="scores-hidden"' in body and 'id="weighted-mean"' not in body
    assert before.context["review"]["others"] == [] and before.context["review"]["weighted_mean"] is None
    # The detail page and the board do not leak it either.
    detail = client.get(reverse("proposals:detail", args=[proposal.pk])).content.decode()
    assert "UNIQUE-COMMENT-OF-MEMBER-TWO" not in detail and "weighted mean" not in detail
    board = client.get(reverse("proposals:board"))
    assert board.context["ranking"] == [] and [p.pk for p in board.context["to_review"]] == [proposal.pk]

    response = client.post(url, {"data_quality": 4, "scientific_value": 4, "reuse_potential": 4}, follow=True)
    body = response.content.decode()
    assert "UNIQUE-COMMENT-OF-MEMBER-TWO" in body and "member2" in body
    # Equal weights: (2+3+4)/3 = 3 for member2, 4 for us, mean 3.5.
    assert 'id="weighted-mean">3.50<' in body
    board = client.get(reverse("proposals:board"))
    assert [p.pk for p in board.context["ranking"]] == [proposal.pk] and board.context["to_review"] == []
    assert board.context["ranking"][0].weighted_mean == pytest.approx(3.5)


@pytest.mark.django_db
def test_submitter_never_sees_scores(client, users, make_proposal):
    proposal = make_proposal("submitted")
    give(users["committee"], proposal, 1, 1, 1, comment="PRIVATE-REVIEWER-NOTE")
    client.force_login(users["owner"])
    body = client.get(reverse("proposals:detail", args=[proposal.pk])).content.decode()
    assert "PRIVATE-REVIEWER-NOTE" not in body
    assert client.get(reverse("proposals:score", args=[proposal.pk])).status_code == 403


@pytest.mark.django_db
def test_scores_become_visible_once_decided_for_good(users, make_proposal):
    proposal = make_proposal("submitted")
    give(users["committee2"], proposal, 5, 5, 5)
    assert selectors.review_summary(proposal, users["committee"])["scores_visible"] is False
    services.decide(proposal=proposal, chair=users["chair"], outcome="reject", reason="Out of scope.")
    proposal.refresh_from_db()
    summary = selectors.review_summary(proposal, users["committee"])
    assert summary["scores_visible"] and summary["weighted_mean"] == pytest.approx(5)


# Superseding -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_changed_score_supersedes_the_old_one(client, users, make_proposal):
    proposal = make_proposal("submitted")
    member = users["committee"]
    first = give(member, proposal, 1, 2, 3, comment="first look")
    client.force_login(member)
    client.post(
        reverse("proposals:score", args=[proposal.pk]),
        {"data_quality": 5, "scientific_value": 4, "reuse_potential": 3, "comment": "after the answers"},
    )
    rows = list(Score.objects.filter(proposal=proposal, member=member).order_by("id"))
    assert len(rows) == 2
    old, new = rows
    assert old.pk == first.pk
    assert (old.data_quality, old.scientific_value, old.reuse_potential, old.comment) == (1, 2, 3, "first look")
    assert not old.is_current and old.superseded_by_id == new.pk
    assert new.is_current and new.superseded_by_id is None
    assert (new.data_quality, new.scientific_value, new.reuse_potential) == (5, 4, 3)
    # Only the current score counts.
    ranked = selectors.ranked(type(proposal).objects.filter(pk=proposal.pk)).get()
    assert ranked.review_count == 1 and ranked.weighted_mean == pytest.approx(4)
    # The page shows the superseded score in the member's history.
    body = client.get(reverse("proposals:score", args=[proposal.pk])).content.decode()
    assert "superseded" in body


@pytest.mark.django_db
def test_scores_are_not_edited_in_place(users, make_proposal):
    s = give(users["committee"], make_proposal("submitted"), 3, 3, 3)
    s.data_quality = 5
    with pytest.raises(ImmutableError):
        s.save()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["data_quality", "scientific_value", "reuse_potential"])
@pytest.mark.parametrize("value", [0, 6])
def test_database_rejects_scores_out_of_range(users, make_proposal, field, value):
    proposal = make_proposal("submitted")
    values = {"data_quality": 3, "scientific_value": 3, "reuse_potential": 3, field: value}
    with pytest.raises(IntegrityError), transaction.atomic():
        Score.objects.create(proposal=proposal, member=users["committee"], **values)


@pytest.mark.django_db
def test_database_allows_one_current_score_per_member(users, make_proposal):
    proposal = make_proposal("submitted")
    give(users["committee"], proposal, 3, 3, 3)
    with pytest.raises(IntegrityError), transaction.atomic():
        Score.objects.create(proposal=proposal, member=users["committee"], data_quality=1, scientific_value=1, reuse_potential=1)


@pytest.mark.django_db
def test_scoring_form_rejects_missing_values(client, users, make_proposal):
    proposal = make_proposal("submitted")
    client.force_login(users["committee"])
    response = client.post(reverse("proposals:score", args=[proposal.pk]), {"data_quality": 9})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"data_quality", "scientific_value", "reuse_potential"}
    assert not Score.objects.exists()


# Audit -----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_every_score_is_an_audit_event(users, make_proposal):
    proposal = make_proposal("submitted")
    first = give(users["committee"], proposal, 2, 2, 2, comment="thin statement")
    second = give(users["committee"], proposal, 4, 4, 4, comment="better after answer")
    events = list(AuditEvent.objects.for_object(proposal).filter(action="proposal.score").order_by("id"))
    assert [e.data["score"] for e in events] == [first.pk, second.pk]
    assert all(e.actor_id == users["committee"].pk for e in events)
    assert events[0].data["supersedes"] is None
    assert events[1].data["supersedes"] == first.pk
    assert events[1].data["previous"] == {"data_quality": 2, "scientific_value": 2, "reuse_potential": 2}
    assert events[1].data["data_quality"] == 4 and events[1].reason == "better after answer"


# Weighted ranking ------------------------------------------------------------------------------

def independent_mean(scores, w):
    """The weighted mean, computed here without the application's code: for each review the
    weighted average of its three categories, then the plain mean over reviews."""
    per_review = [(w[0] * a + w[1] * b + w[2] * c) / (w[0] + w[1] + w[2]) for a, b, c in scores]
    return sum(per_review) / len(per_review)


SCORES = {
    # Strong data, weak science: wins when data quality weighs most.
    "A": {"committee": (5, 1, 2), "committee2": (5, 2, 1)},
    # Weak data, strong science and reuse.
    "B": {"committee": (1, 5, 5), "committee2": (2, 5, 4)},
    # Middling, one review only.
    "C": {"committee": (3, 3, 3)},
}


@pytest.mark.django_db
@pytest.mark.parametrize("weights", [(3, 1, 1), (1, 2, 2), (0.5, 1, 4)])
def test_ranking_by_weighted_mean(users, make_proposal, weights):
    ScoreWeights.objects.create(data_quality=weights[0], scientific_value=weights[1], reuse_potential=weights[2])
    proposals = {}
    for name, by_member in SCORES.items():
        proposals[name] = p = make_proposal("submitted", title=f"Proposal {name}")
        for member, values in by_member.items():
            give(users[member], p, *values)
    # Scored by both members, so both see all three ranked.
    expected_means = {name: independent_mean(list(s.values()), weights) for name, s in SCORES.items()}
    expected_order = sorted(expected_means, key=lambda n: -expected_means[n])
    board = selectors.board(users["committee"])
    got = [p.title.split()[-1] for p in board["ranking"]]
    assert got == expected_order
    for p in board["ranking"]:
        name = p.title.split()[-1]
        assert p.weighted_mean == pytest.approx(expected_means[name])
        assert p.review_count == len(SCORES[name])


@pytest.mark.django_db
def test_weights_change_the_order(users, make_proposal):
    a = make_proposal("submitted", title="Data heavy")
    b = make_proposal("submitted", title="Science heavy")
    give(users["committee"], a, 5, 1, 1)
    give(users["committee"], b, 1, 5, 5)
    with override_settings(TCIA_SCORE_WEIGHTS={"data_quality": 10, "scientific_value": 1, "reuse_potential": 1}):
        assert [p.pk for p in selectors.board(users["committee"])["ranking"]] == [a.pk, b.pk]
    assert [p.pk for p in selectors.board(users["committee"])["ranking"]] == [b.pk, a.pk]


@pytest.mark.django_db
def test_weights_row_overrides_settings(users):
    with override_settings(TCIA_SCORE_WEIGHTS={"data_quality": 7, "scientific_value": 1, "reuse_potential": 1}):
        assert ScoreWeights.current().data_quality == 7
        ScoreWeights.objects.create(data_quality=2, scientific_value=3, reuse_potential=4)
        w = ScoreWeights.current()
        assert (w.data_quality, w.scientific_value, w.reuse_potential) == (2, 3, 4)


@pytest.mark.django_db
def test_weights_cannot_all_be_zero(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        ScoreWeights.objects.create(data_quality=0, scientific_value=0, reuse_potential=0)


@pytest.mark.django_db
def test_still_to_review_is_per_member(users, make_proposal):
    p1 = make_proposal("submitted", title="One")
    p2 = make_proposal("needs_information", title="Two")
    make_proposal("accepted", title="Done")
    make_proposal("draft", title="Private")
    give(users["committee"], p1, 3, 3, 3)
    assert list(selectors.still_to_review(users["committee"])) == [p2]
    assert list(selectors.still_to_review(users["committee2"])) == [p1, p2]
    assert list(selectors.still_to_review(users["owner"])) == []


@pytest.mark.django_db
def test_board_filters(client, users, make_proposal, mr, ct):
    lung = make_proposal("submitted", title="Lung CT", modalities=[ct])
    brain = make_proposal("submitted", title="Brain MR", modalities=[mr], cancer_type="Glioblastoma")
    deferred = make_proposal("deferred", title="Later", modalities=[ct, mr])
    client.force_login(users["committee"])

    def listed(**params):
        r = client.get(reverse("proposals:board"), params)
        return {p.pk for p in r.context["to_review"]} | {p.pk for p in r.context["ranking"]}

    assert listed() == {lung.pk, brain.pk, deferred.pk}
    assert listed(modality="MR") == {brain.pk, deferred.pk}
    assert listed(cancer_type="Glioblastoma") == {brain.pk}
    assert listed(status="deferred") == {deferred.pk}
    assert listed(status="deferred", modality="MR") == {deferred.pk}
