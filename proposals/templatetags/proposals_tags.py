"""The proposals sub-navigation with the unread notification count (base.html belongs to everyone)."""
from django import template

from tcia.core import roles

from .. import selectors
from ..permissions import is_chair

register = template.Library()


@register.inclusion_tag("proposals/_subnav.html", takes_context=True)
def proposals_subnav(context, current=""):
    request = context["request"]
    user = request.user
    return {
        "current": current,
        "unread": selectors.unread_count(user),
        "is_submitter": roles.is_submitter(user),
        "is_committee": roles.is_committee(user),
        "is_chair": is_chair(user),
        "authenticated": user.is_authenticated,
    }


@register.filter
def score_value(score, field):
    return getattr(score, field, "")
