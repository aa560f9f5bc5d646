"""HTTP layer of the NBIA-compatible API: `/nbia-api/services/{v1,v2,v4}/<endpoint>` and
`/nbia-api/oauth/token`.

The views parse parameters, resolve the caller (an optional Bearer token, else the session,
else the public), and hand over to `queries`, `extras` and `downloads`.
"""
import logging
import math

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from api.throttling import throttled

from . import downloads, extras, formats, retriever, shared_carts, simple_search, tokens
from .context import Ctx
from .queries import METADATA_ENDPOINTS, V1_ONLY_ENDPOINTS, ApiError, get_series_json_pg

logger = logging.getLogger(__name__)

GENERATIONS = ("v1", "v2", "v4")

EXTRA_ENDPOINTS = {
    # name: (handler, params, methods)
    "getCollectionDescriptions": (extras.get_collection_descriptions, ("collectionName",), ("GET",)),
    "getDicomTags": (extras.get_dicom_tags, ("SeriesUID",), ("GET",)),
    "getManifestText": (extras.get_manifest_text, ("list", "includeAnnotation"), ("POST", "GET")),
    "getManifestForCollection": (extras.get_manifest_for_collection, ("collection", "includeAnnotation"), ("POST", "GET")),
    "getCollectionOrSeriesForDOI": (extras.get_collection_or_series_for_doi, ("DOI", "CollectionOrSeries"), ("POST", "GET")),
}
# Issue #16: simple search (numbered criteria: "criteriaType{i}" stands for criteriaType0, 1, …),
# shared carts and the Retriever's user agreement.
EXTRA_ENDPOINTS.update({
    "getSimpleSearch": (simple_search.get_simple_search, simple_search.PARAMETERS, ("POST",)),
    "getManifestForSimpleSearch": (simple_search.get_manifest_for_simple_search, simple_search.PARAMETERS, ("POST",)),
    "getContentsByName": (shared_carts.get_contents_by_name, ("name",), ("GET",)),
    "getUserAgreementTxt": (retriever.user_agreement, (), ("GET",)),
})

DOWNLOAD_ENDPOINTS = {
    "getImage": (lambda r, p: downloads.get_image(r, p), ("SeriesInstanceUID", "NewFileNames", "IncludeMD5")),
    "getImageWithMD5Hash": (lambda r, p: downloads.get_image(r, p, md5_variant=True), ("SeriesInstanceUID",)),
    "getDCMImage": (lambda r, p: downloads.get_image(r, p, dcm_variant=True),
                    ("SeriesInstanceUID", "IncludeAnnotation", "MD5Verification")),
    "getSingleImage": (downloads.get_single_image, ("SeriesInstanceUID", "SOPInstanceUID")),
}

def text_response(message: str, status: int) -> HttpResponse:
    return HttpResponse(message.encode("utf-8"), status=status, content_type="text/plain; charset=utf-8")


def _params(request):
    """GET and POST parameters together (POST wins); a QueryDict-like with getlist."""
    merged = request.GET.copy()
    if request.method == "POST":
        for key in request.POST:
            merged.setlist(key, request.POST.getlist(key))
    return merged


NUMBERED = "{i}"  # a parameter name ending so stands for the name followed by any index


def _allowed(name: str, allowed) -> bool:
    return name in allowed or (name.rstrip("0123456789") + NUMBERED in allowed and name[-1:].isdigit())


def _unknown(params, allowed) -> HttpResponse | None:
    for name in params:
        if not _allowed(name, allowed):
            listed = ", ".join(allowed)
            return text_response(f"Invalid query parameter: '{name}'. Allowed parameters are: [{listed}]", 400)
    return None


def resolve_user(request):
    """The caller: the user of a valid Bearer token, else the session user, else anonymous.
    Returns an HttpResponse (401) for a token that is unknown or expired."""
    raw = tokens.bearer_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
    if raw is None:
        return request.user
    try:
        return tokens.user_for_access_token(raw)
    except tokens.InvalidToken as exc:
        response = JsonResponse({"error": "invalid_token", "error_description": str(exc)}, status=401)
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response


def too_many(wait: float) -> HttpResponse:
    response = text_response(f"Too many requests: try again in {math.ceil(wait)} seconds.", 429)
    response["Retry-After"] = str(math.ceil(wait))
    return response


@csrf_exempt
def service(request, generation: str, endpoint: str):
    if generation not in GENERATIONS:
        return text_response(f"Unknown API version {generation}.", 404)
    user = resolve_user(request)
    if isinstance(user, HttpResponse):
        return user
    request.user = user
    wait = throttled(request)
    if wait is not None:
        return too_many(wait)
    params = _params(request)
    strict = generation != "v1"

    if endpoint in DOWNLOAD_ENDPOINTS:
        handler, allowed = DOWNLOAD_ENDPOINTS[endpoint]
        if request.method not in ("GET", "HEAD"):
            return downloads.json_error(f"{endpoint} answers GET requests.", 405)
        if strict and (bad := _unknown(params, allowed)):
            return bad
        try:
            return handler(request, params)
        except ApiError as exc:
            if exc.status >= 500:
                logger.error("nbia %s %s: %s", endpoint, params.get("SeriesInstanceUID"), exc.message)
            return downloads.json_error(exc.message, exc.status)

    ctx = Ctx.build(request.user, generation)
    if endpoint in EXTRA_ENDPOINTS:
        handler, allowed, methods = EXTRA_ENDPOINTS[endpoint]
        if request.method not in methods + ("HEAD",):
            return text_response(f"{endpoint} answers {' or '.join(methods)} requests.", 405)
        if strict and (bad := _unknown(params, allowed + ("format",))):
            return bad
        try:
            return handler(request, ctx, params)
        except ApiError as exc:
            return text_response(exc.message, exc.status)

    spec = METADATA_ENDPOINTS.get(endpoint)
    if generation != "v4" and endpoint in V1_ONLY_ENDPOINTS:
        spec = V1_ONLY_ENDPOINTS[endpoint]
    if spec is None:
        return text_response(f"Unknown endpoint {endpoint}.", 404)
    if request.method not in spec.methods + ("HEAD",):
        return text_response(f"{endpoint} answers {' or '.join(spec.methods)} requests.", 405)
    allowed = (spec.v1_params if generation == "v1" and spec.v1_params else spec.params) + ("format",)
    if strict and (bad := _unknown(params, allowed)):
        return bad
    try:
        fmt = formats.normalise(params.get("format"), spec.default_format)
    except formats.UnknownFormat:
        # NBIA itself answers 500 here; a client's typo is a 400 that says what is allowed.
        return text_response(f"Unknown format: the format parameter must be one of {', '.join(formats.FORMATS)}.", 400)
    if endpoint == "getSeries" and generation == "v4" and fmt == "json":
        try:
            text = get_series_json_pg(ctx, params)
        except ApiError as exc:
            return text_response(exc.message, exc.status)
        if text is not None:
            return HttpResponse(text.replace("/", "\\/").encode("utf-8"), content_type="application/json; charset=utf-8")
    try:
        columns, rows = spec.handler(ctx, params)
    except ApiError as exc:
        return text_response(exc.message, exc.status)
    if endpoint == "getSeriesMetaData" and not rows:
        return HttpResponse(status=204)
    return formats.render(columns, rows, fmt, csv_filename=spec.csv_filename)


@csrf_exempt
@require_POST
def oauth_token(request):
    """`POST /nbia-api/oauth/token`, form-encoded, as TCIA's Keycloak proxy (reference §4)."""
    wait = throttled(request)
    if wait is not None:
        return too_many(wait)
    data = request.POST
    grant = data.get("grant_type", "")
    try:
        if grant == "password":
            issued = tokens.password_grant(
                username=data.get("username", ""), password=data.get("password", ""),
                client_id=data.get("client_id", ""), request=request,
            )
        elif grant == "refresh_token":
            issued = tokens.refresh_grant(refresh_token=data.get("refresh_token", ""), client_id=data.get("client_id", ""))
        else:
            raise tokens.TokenError("unsupported_grant_type", "grant_type must be password or refresh_token")
    except tokens.TokenError as exc:
        return JsonResponse({"error": exc.code, "error_description": exc.description}, status=exc.status)
    response = JsonResponse(issued.as_json())
    response["Cache-Control"] = "no-store"
    return response
