"""Who may act on a proposal. Reading goes through ProposalQuerySet.visible_to (a 404 otherwise);
these rules decide the actions on a proposal the user can already see, and both views and
services ask them, so an action refused in a page is refused in the service too.

The chair: a committee member in the `committee_chair` group, or anyone with the admin role.
"""
from tcia.core import roles

from .models import CHAIR_GROUP, EDITABLE_STATUSES, FINAL_STATUSES, REVIEWABLE_STATUSES, ProposalStatus


def is_chair(user) -> bool:
    names = roles.role_names(user)
    return roles.ADMIN in names or (roles.COMMITTEE in names and CHAIR_GROUP in names)


def can_edit(user, proposal) -> bool:
    return proposal.submitter_id == getattr(user, "pk", None) and proposal.status in EDITABLE_STATUSES


def can_upload(user, proposal) -> bool:
    return can_edit(user, proposal)


def can_score(user, proposal) -> bool:
    return roles.is_committee(user) and proposal.status in REVIEWABLE_STATUSES


def can_ask(user, proposal) -> bool:
    return roles.is_committee(user) and proposal.status in REVIEWABLE_STATUSES


def can_answer(user, proposal) -> bool:
    return proposal.submitter_id == getattr(user, "pk", None) and proposal.status != ProposalStatus.DRAFT


def can_decide(user, proposal) -> bool:
    # Accepted proposals already have a draft collection in curators' hands; they are not re-decided.
    return is_chair(user) and proposal.status in (*REVIEWABLE_STATUSES, ProposalStatus.REJECTED)


def can_see_scores(user, proposal, *, has_own_score: bool) -> bool:
    """Blind review: other members' scores stay hidden until you have scored, or until the proposal
    is decided for good."""
    if not roles.is_committee(user):
        return False
    return has_own_score or proposal.status in FINAL_STATUSES
