"""The one permission path: querysets are filtered by user, and what a user may not read is a 404.

A model opts in by giving its QuerySet a `visible_to(user)` method. Views never check
permissions any other way for reading.
"""
from functools import wraps

from django.http import Http404

from . import roles


def visible(queryset, user):
    method = getattr(queryset, "visible_to", None)
    if method is None:
        raise TypeError(f"{queryset.model.__name__} has no visible_to(user) queryset method")
    return method(user)


def get_visible_or_404(queryset, user, **lookup):
    try:
        return visible(queryset, user).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")


def require_curator(user):
    """Staff-only pages answer 404, not 403, so they do not reveal that they exist."""
    if not roles.is_curator(user):
        raise Http404("Not found")


def curator_required(view):
    """View decorator: require_curator before the view runs (staff pages are a 404 to others)."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        require_curator(request.user)
        return view(request, *args, **kwargs)

    return wrapper
