"""Who may read what through DICOMweb, and the request's caller and throttle.

The rule is not decided here: `readable_collection_ids` asks collections_app.access for the
released collections whose data the caller may read (`released_data_collections`: published or
retired only, so nothing in draft or curation, not even for curators; public ones for everyone;
limited ones for a user who accepted the current data use agreement, by session or by a bearer
token from /nbia-api/oauth/token). `readable_latest_versions` and the pinned roots both filter
through it. DICOMweb serves pixel data and whole headers, so a limited collection the caller may
not read is absent — its studies are not listed and its URLs are 404 — rather than listed with
a flag as the NBIA API's counts list it.
"""
import math

from django.http import HttpResponse, JsonResponse

from api.throttling import throttled
from collections_app.access import released_data_collections
from collections_app.models import PUBLIC_STATUSES, CollectionVersion


def readable_collection_ids(user) -> set[int]:
    """Ids of the released collections whose data `user` may read (collections_app.access)."""
    return set(released_data_collections(user).values_list("pk", flat=True))


def readable_latest_versions(user) -> dict[int, tuple[int, str]]:
    """collection id → (latest version id not withdrawn, access) for the released collections
    `user` may read (by `readable_collection_ids`): what every request on the latest root asks first."""
    latest: dict[int, tuple] = {}
    for cid, pk, number, access in CollectionVersion.objects.filter(
            withdrawn_at__isnull=True, collection__status__in=PUBLIC_STATUSES).values_list(
            "collection_id", "pk", "number", "collection__access"):
        if cid not in latest or number > latest[cid][1]:
            latest[cid] = (pk, number, access)
    readable = readable_collection_ids(user)  # the one rule, whatever the collections' access
    return {cid: (pk, access) for cid, (pk, _number, access) in latest.items() if cid in readable}


def resolve_user(request):
    """The caller: a valid Bearer token's user, else the session user. A bad token → 401."""
    from nbia.views import resolve_user as nbia_resolve_user

    user = nbia_resolve_user(request)
    if isinstance(user, HttpResponse):
        response = JsonResponse({"error": "The access token is invalid or has expired.", "status": 401}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    return user


def throttle(request) -> HttpResponse | None:
    """The REST and NBIA APIs' throttle (api.throttling: their rates and counters, keyed on the
    real client address). None when the request may go on, else a 429 with Retry-After."""
    wait = throttled(request)
    if wait is None:
        return None
    response = JsonResponse({"error": "Too many requests; slow down.", "status": 429}, status=429)
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response
