"""Reading proposals for the pages: the committee's ranking, what each member still has to
review, and the blind view of scores. Everything starts from ProposalQuerySet.visible_to."""
from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, Exists, F, FloatField, OuterRef, Q, Value
from django.db.models.functions import Cast

from tcia.core import roles

from .models import (
    CHAIR_GROUP, FINAL_STATUSES, REVIEWABLE_STATUSES, Notification, Proposal, ProposalStatus, Question, Score,
    ScoreWeights, Weights,
)


def weighted_expression(weights: Weights, prefix: str = ""):
    """SQL for the weighted score of one review: sum(weight × category) / sum(weights)."""
    total = weights.total

    def term(field, weight):
        return Cast(F(prefix + field), FloatField()) * Value(weight / total)

    return (
        term("data_quality", weights.data_quality)
        + term("scientific_value", weights.scientific_value)
        + term("reuse_potential", weights.reuse_potential)
    )


def annotate_scores(queryset, user=None, weights: Weights | None = None):
    """Adds weighted_mean (over current scores, computed by the database), review_count, and,
    for `user`, has_scored."""
    weights = weights or ScoreWeights.current()
    current = Q(scores__is_current=True)
    qs = queryset.annotate(
        weighted_mean=Avg(weighted_expression(weights, "scores__"), filter=current, output_field=FloatField()),
        review_count=Count("scores", filter=current, distinct=True),
    )
    if user is not None and getattr(user, "is_authenticated", False):
        qs = qs.annotate(
            has_scored=Exists(Score.objects.filter(proposal=OuterRef("pk"), member=user, is_current=True))
        )
    else:
        qs = qs.annotate(has_scored=Value(False))
    return qs


def filter_proposals(queryset, *, status="", cancer_type="", modality=None):
    if status:
        queryset = queryset.filter(status=status)
    if cancer_type:
        queryset = queryset.filter(cancer_type__iexact=cancer_type)
    if modality:
        queryset = queryset.filter(modalities=modality)
    return queryset


def board(user, *, status="", cancer_type="", modality=None, weights: Weights | None = None) -> dict:
    """The triage board for a committee member.

    `ranking`: proposals whose scores the member may see (scored by them, or decided for good),
    best weighted mean first. `to_review`: proposals waiting for a decision that the member has
    not scored yet, oldest submission first; they carry no mean, so their rank cannot leak.
    """
    weights = weights or ScoreWeights.current()
    base = filter_proposals(
        Proposal.objects.visible_to(user).exclude(status=ProposalStatus.DRAFT),
        status=status, cancer_type=cancer_type, modality=modality,
    )
    qs = annotate_scores(base, user, weights).select_related("submitter").prefetch_related("modalities")
    ranking = list(
        qs.filter(Q(has_scored=True) | Q(status__in=FINAL_STATUSES)).order_by(
            F("weighted_mean").desc(nulls_last=True), "submitted_at", "pk"
        )
    )
    to_review = list(qs.filter(has_scored=False, status__in=REVIEWABLE_STATUSES).order_by("submitted_at", "pk"))
    return {"ranking": ranking, "to_review": to_review, "weights": weights}


def ranked(queryset, weights: Weights | None = None):
    """All of `queryset` ranked by weighted mean (for the chair's overview and for tests)."""
    return annotate_scores(queryset, None, weights).order_by(F("weighted_mean").desc(nulls_last=True), "pk")


def still_to_review(user):
    """Proposals waiting for a decision that `user` has not scored."""
    if not roles.is_committee(user):
        return Proposal.objects.none()
    return (
        Proposal.objects.visible_to(user)
        .filter(status__in=REVIEWABLE_STATUSES)
        .exclude(scores__member=user, scores__is_current=True)
        .order_by("submitted_at", "pk")
    )


def current_score(proposal, user):
    if not getattr(user, "is_authenticated", False):
        return None
    return Score.objects.filter(proposal=proposal, member=user, is_current=True).first()


def review_summary(proposal, user, weights: Weights | None = None) -> dict:
    """What the scoring page shows: your own score, and the others' only once you may see them."""
    from .permissions import can_see_scores

    weights = weights or ScoreWeights.current()
    mine = current_score(proposal, user)
    current = list(Score.objects.filter(proposal=proposal, is_current=True).select_related("member"))
    visible = can_see_scores(user, proposal, has_own_score=mine is not None)
    summary = {
        "mine": mine,
        "scores_visible": visible,
        "review_count": len(current),
        "weights": weights,
        "others": [],
        "weighted_mean": None,
    }
    if visible:
        summary["others"] = [s for s in current if s.member_id != user.pk]
        for s in summary["others"]:
            s.weighted_score = s.weighted(weights)
        if current:
            summary["weighted_mean"] = sum(s.weighted(weights) for s in current) / len(current)
    if mine is not None:
        mine.weighted_score = mine.weighted(weights)
    return summary


def score_history(proposal, user):
    """A member's own earlier scores for the proposal (newest first), to show what they changed."""
    return Score.objects.filter(proposal=proposal, member=user).order_by("-created_at", "-id")


def my_proposals(user):
    return (
        Proposal.objects.visible_to(user).filter(submitter=user)
        .annotate(open_questions=Count("questions", filter=Q(questions__answers__isnull=True), distinct=True))
        .order_by("-updated_at", "-pk")
    )


def questions_to_answer(user):
    return (
        Question.objects.filter(proposal__in=Proposal.objects.visible_to(user).filter(submitter=user), answers__isnull=True)
        .select_related("proposal")
        .order_by("created_at")
    )


def accepted_for_curators(user):
    if not roles.is_curator(user):
        return Proposal.objects.none()
    return Proposal.objects.visible_to(user).filter(status=ProposalStatus.ACCEPTED).select_related("collection")


def unread_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(user=user).unread().count()


def committee_members():
    User = get_user_model()
    return User.objects.filter(is_active=True, groups__name=roles.COMMITTEE).distinct()


def chairs():
    User = get_user_model()
    committee = User.objects.filter(groups__name=roles.COMMITTEE).values("pk")
    chair_group = User.objects.filter(groups__name=CHAIR_GROUP).values("pk")
    admins = User.objects.filter(Q(groups__name=roles.ADMIN) | Q(is_superuser=True)).values("pk")
    return User.objects.filter(is_active=True).filter(
        Q(pk__in=admins) | (Q(pk__in=committee) & Q(pk__in=chair_group))
    )
