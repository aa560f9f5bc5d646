from django.conf import settings

from . import roles as role_helpers


def roles(request):
    user = getattr(request, "user", None)
    return {
        "site_name": settings.TCIA_SITE_NAME,
        "user_is_curator": role_helpers.is_curator(user),
        "user_is_committee": role_helpers.is_committee(user),
        "user_is_submitter": role_helpers.is_submitter(user),
    }
