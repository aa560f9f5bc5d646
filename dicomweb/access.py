"""Who may read what through DICOMweb: one function, `readable_collection_ids`, that the rest of
the app calls, so the portal's shared rule can replace it in one place.

The rule is the downloads' rule (collections_app.access.can_download): released collections
only (published or retired); public ones for everyone; limited ones for a user who accepted the
current data use agreement (by session or by a bearer token from /nbia-api/oauth/token);
curators everything public. `readable_latest_versions` and the pinned roots both filter through
it, so switching to the portal's shared helper (issue #13) is a change of this one body.
DICOMweb serves pixel data and whole headers, so a limited
collection the caller may not download is absent — its studies are not listed and its URLs are
404 — rather than listed with a flag as the NBIA API lists it.
"""
from django.conf import settings
from django.http import HttpResponse, JsonResponse

from collections_app.access import can_download
from collections_app.models import PUBLIC_STATUSES, Collection, CollectionVersion


def readable_collection_ids(user) -> set[int]:
    """Ids of the released collections whose data `user` may read."""
    collections = Collection.objects.filter(status__in=PUBLIC_STATUSES).only(
        "id", "status", "access", "data_use_agreement"
    )
    return {c.id for c in collections if can_download(user, c)}


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
    """The REST API's rate limits (TCIA_API_ANON_RATE / TCIA_API_USER_RATE), shared with it.
    None when the request may go on, else a 429 with Retry-After."""
    if not getattr(settings, "TCIA_DICOMWEB_THROTTLE", True):
        return None
    from api.throttling import AnonThrottle, UserThrottle

    for throttle_class in (AnonThrottle, UserThrottle):
        limiter = throttle_class()
        if not limiter.allow_request(request, None):
            wait = limiter.wait()
            response = JsonResponse({"error": "Too many requests; slow down.", "status": 429}, status=429)
            if wait is not None:
                response["Retry-After"] = str(max(1, int(wait)))
            return response
    return None
