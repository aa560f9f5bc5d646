"""Roles are Django groups. Anonymous users are the public.

Staff rights in the archive come from the curator and admin roles (or Django's superuser flag),
never from scattered `is_staff` checks in views.
"""
from django.contrib.auth.models import AnonymousUser

SUBMITTER = "submitter"
COMMITTEE = "committee"
CURATOR = "curator"
ADMIN = "admin"
ALL_ROLES = (SUBMITTER, COMMITTEE, CURATOR, ADMIN)


def role_names(user) -> set[str]:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated:
        return set()
    cached = getattr(user, "_tcia_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached |= {ADMIN}
        user._tcia_roles = cached
    return cached


def has_role(user, role: str) -> bool:
    return role in role_names(user)


def is_curator(user) -> bool:
    """Curators and admins may see and change unpublished data."""
    roles = role_names(user)
    return bool(roles & {CURATOR, ADMIN})


def is_committee(user) -> bool:
    return bool(role_names(user) & {COMMITTEE, ADMIN})


def is_submitter(user) -> bool:
    return SUBMITTER in role_names(user)
