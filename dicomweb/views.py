"""HTTP layer of DICOMweb: `/dicomweb/` (latest versions) and `/dicomweb/versions/<id>/` (one
frozen version). Every view goes through `endpoint`, which answers CORS preflights, resolves
the caller (bearer token or session), applies the API's throttle, builds the scope, turns
errors into JSON with CORS headers (OHIF #517: a CORS-less error looks like a network failure),
and adds ETag / Cache-Control with If-None-Match → 304.
"""
import functools
import hashlib
import json
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import quote_etag
from django.views.decorators.csrf import csrf_exempt

from fixity.blocking import FileBlocked, refuse_blocked

from . import qido, scope as scopes, wado
from .headers import header_dict, header_for
from .wado import NotAcceptable, NotFound

logger = logging.getLogger(__name__)
DICOM_JSON = "application/dicom+json"
ALLOWED_METHODS = "GET, HEAD, OPTIONS"


class Urls:
    """Absolute URLs below the request's root (RetrieveURL, BulkDataURI, Content-Location)."""

    def __init__(self, request, scope):
        self.base = request.build_absolute_uri(scope.root).rstrip("/")

    def study(self, s):
        return f"{self.base}/studies/{s}"

    def series(self, s, se):
        return f"{self.base}/studies/{s}/series/{se}"

    def instance(self, s, se, i):
        return f"{self.base}/studies/{s}/series/{se}/instances/{i}"

    def header_dict(self, header, s, se, i):
        return header_dict(header, self.instance(s, se, i))


def _cors(request, response):
    origin = request.headers.get("Origin")
    allowed = getattr(settings, "TCIA_DICOMWEB_CORS_ORIGINS", [])
    if origin and ("*" in allowed or origin in allowed):
        response["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response["Access-Control-Expose-Headers"] = "Content-Type, Content-Length, Content-Location, ETag, Warning, Retry-After"
    response["Vary"] = "Origin, Accept, Authorization, Cookie"
    return response


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message, "status": status}, status=status)


def _preflight(request):
    response = HttpResponse(status=204)
    response["Allow"] = ALLOWED_METHODS
    origin = request.headers.get("Origin")
    allowed = getattr(settings, "TCIA_DICOMWEB_CORS_ORIGINS", [])
    if origin and ("*" in allowed or origin in allowed):
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = "Accept, Authorization, Content-Type, If-None-Match, Range"
        response["Access-Control-Max-Age"] = "86400"
    return response


def endpoint(view):
    @csrf_exempt
    @functools.wraps(view)
    def wrapper(request, *args, version_id=None, **kwargs):
        if request.method == "OPTIONS":
            return _cors(request, _preflight(request))
        if request.method not in ("GET", "HEAD"):
            response = _error("DICOMweb here is read-only: GET, HEAD and OPTIONS.", 405)
            response["Allow"] = ALLOWED_METHODS
            return _cors(request, response)
        from .access import resolve_user, throttle

        user = resolve_user(request)
        if isinstance(user, HttpResponse):
            return _cors(request, user)
        request.user = user
        limited = throttle(request)
        if limited is not None:
            return _cors(request, limited)
        root = "/dicomweb" if version_id is None else f"/dicomweb/versions/{version_id}"
        try:
            scope = scopes.build(user, version_id, root)
            response = view(request, scope, Urls(request, scope), *args, **kwargs)
        except scopes.Gone as gone:
            response = _error(f"{gone}: its data are no longer served.", 410)
        except (Http404, NotFound, qido.QueryError) as exc:
            status = 400 if isinstance(exc, qido.QueryError) else 404
            response = _error(str(exc) or "Not found.", status)
        except NotAcceptable as exc:
            response = _error(str(exc), 406)
        except FileBlocked as exc:  # failed the fixity audit (fixity/blocking.py)
            response = _error(exc.message, exc.status)
        except OSError as exc:
            logger.error("dicomweb %s: %s", request.path, exc)
            response = _error("The archive storage could not deliver these files; nothing was sent. "
                              "The archive staff have been told by the server log.", 500)
        return _cors(request, response)

    return wrapper


def _cache(response, scope, etag: str, request):
    """ETag and caching; a matching If-None-Match gives 304 with the same headers."""
    if scope.public_only:
        response["Cache-Control"] = "public, max-age=31536000, immutable" if scope.pinned else "public, max-age=300"
    else:
        response["Cache-Control"] = "private, max-age=300"
    response["ETag"] = etag
    inm = request.headers.get("If-None-Match", "")
    if inm and (inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]):
        not_modified = HttpResponse(status=304)
        for h in ("ETag", "Cache-Control"):
            not_modified[h] = response[h]
        return not_modified
    return response


def _json(request, scope, payload_text: str, warnings=()):
    if payload_text in ("[]", ""):
        response = HttpResponse(status=204)
    else:
        response = HttpResponse(payload_text.encode("utf-8"), content_type=DICOM_JSON)
    for w in warnings:
        response["Warning"] = f'299 {request.get_host()}: "{w}"'
    etag = quote_etag(hashlib.sha256(payload_text.encode("utf-8")).hexdigest()[:32])
    return _cache(response, scope, etag, request)


def _accept(request):
    return wado.parse_accept(request.headers.get("Accept", ""), request.GET.get("accept", ""))


def _check_json_accept(request):
    accept = _accept(request)
    if accept and not any(m.type in (DICOM_JSON, "application/json", "*/*", "application/*") for m in accept):
        raise NotAcceptable("Search and metadata answers are application/dicom+json.")


# ------------------------------------------------------------------ QIDO

@endpoint
def search_studies(request, scope, urls):
    _check_json_accept(request)
    query = qido.parse(request.GET, levels=("study",), scoped=False)
    rows, warnings = qido.search_studies(scope, query, urls)
    return _json(request, scope, json.dumps(rows, separators=(",", ":")), warnings)


@endpoint
def search_series(request, scope, urls, study=None):
    _check_json_accept(request)
    levels = ("series",) if study else ("study", "series")
    query = qido.parse(request.GET, levels=levels, scoped=study is not None)
    rows, warnings = qido.search_series(scope, query, urls, study_uid=study)
    return _json(request, scope, json.dumps(rows, separators=(",", ":")), warnings)


@endpoint
def search_instances(request, scope, urls, study=None, series=None):
    _check_json_accept(request)
    levels = ("instance",) if series else (("series", "instance") if study else ("study", "series", "instance"))
    query = qido.parse(request.GET, levels=levels, scoped=series is not None)
    rows, warnings = qido.search_instances(scope, query, urls, study_uid=study, series_uid=series)
    return _json(request, scope, json.dumps(rows, separators=(",", ":")), warnings)


# ------------------------------------------------------------------ WADO

@endpoint
def retrieve(request, scope, urls, study, series=None, instance=None):
    files = wado.entries(scope, study, series, instance)
    refuse_blocked([f.storage_name for f in files])
    how = wado.negotiate_instances(_accept(request), files, single_ok=instance is not None)
    etag = wado.etag_of(files, how)
    if how == "single":
        f = files[0]
        response = StreamingHttpResponse(wado._read_file(f.storage_name, f.size), content_type="application/dicom")
        response["Content-Length"] = str(f.size)
    else:
        boundary = wado._new_boundary()
        body, length = wado.multipart(wado.instance_parts(files, urls), boundary)
        response = StreamingHttpResponse(body, content_type=wado.multipart_content_type("application/dicom", boundary))
        response["Content-Length"] = str(length)
    return _cache(response, scope, etag, request)


@endpoint
def metadata(request, scope, urls, study, series=None, instance=None):
    _check_json_accept(request)
    files = wado.entries(scope, study, series, instance, with_syntax=False)
    etag = wado.etag_of(files, urls.base)
    inm = request.headers.get("If-None-Match", "")
    if inm and etag in [t.strip() for t in inm.split(",")]:
        return _cache(HttpResponse(status=200), scope, etag, request)
    response = HttpResponse(wado.metadata_text(files, urls).encode("utf-8"), content_type=DICOM_JSON)
    return _cache(response, scope, etag, request)


def _one(scope, study, series, instance):
    return wado.entries(scope, study, series, instance, with_syntax=False)[0]


@endpoint
def frames(request, scope, urls, study, series, instance, frame_list):
    numbers = wado.parse_frame_list(frame_list)
    entry = _one(scope, study, series, instance)
    refuse_blocked([entry.storage_name])
    header = header_for(entry.stored_file_id, entry.storage_name, layout_only=True)
    if header is None:
        raise OSError(f"stored file {entry.stored_file_id} could not be parsed")
    location = urls.instance(study, series, instance)
    parts, part_type, single = wado.frames_response_parts(_accept(request), header, entry.storage_name, numbers, location)
    etag = quote_etag(hashlib.sha256(f"{entry.sha256}:{frame_list}:{parts[0].content_type}".encode()).hexdigest()[:32])
    if single:
        response = HttpResponse(parts[0].chunks, content_type=parts[0].content_type)
    else:
        boundary = wado._new_boundary()
        body, length = wado.multipart(parts, boundary)
        ts = parts[0].content_type.partition("transfer-syntax=")[2]
        response = StreamingHttpResponse(body, content_type=wado.multipart_content_type(part_type, boundary, ts))
        response["Content-Length"] = str(length)
    return _cache(response, scope, etag, request)


def _render(request, scope, files, frame_index, thumbnail):
    params = wado.render_params(request, _accept(request), thumbnail)
    entry = files[0] if len(files) == 1 else wado.representative(files)
    refuse_blocked([entry.storage_name])
    etag = quote_etag(hashlib.sha256(
        f"{entry.sha256}:{frame_index}:{params}".encode()).hexdigest()[:32])
    inm = request.headers.get("If-None-Match", "")
    if inm and etag in [t.strip() for t in inm.split(",")]:
        return _cache(HttpResponse(status=200), scope, etag, request)
    data = wado.rendered(entry.storage_name, frame_index, params)
    return _cache(HttpResponse(data, content_type=params.media), scope, etag, request)


@endpoint
def rendered(request, scope, urls, study, series=None, instance=None, frame_list=None, thumbnail=False):
    files = wado.entries(scope, study, series, instance, with_syntax=False)
    index = 0
    if frame_list is not None:
        numbers = wado.parse_frame_list(frame_list)
        if len(numbers) != 1:
            raise NotAcceptable("Rendered frames come one at a time here: name a single frame.")
        index = numbers[0] - 1
    return _render(request, scope, files, index, thumbnail)


@endpoint
def bulkdata(request, scope, urls, study, series, instance, key):
    entry = _one(scope, study, series, instance)
    refuse_blocked([entry.storage_name])
    parts = wado.bulk_parts(entry, key, urls)
    etag = quote_etag(hashlib.sha256(f"{entry.sha256}:{key}".encode()).hexdigest()[:32])
    accept = _accept(request)
    single = bool(accept) and len(parts) == 1 and not any(m.type.startswith("multipart/") or m.type == "*/*" for m in accept)
    if single:
        response = HttpResponse(parts[0].chunks, content_type=parts[0].content_type)
    else:
        boundary = wado._new_boundary()
        body, length = wado.multipart(parts, boundary)
        response = StreamingHttpResponse(body, content_type=wado.multipart_content_type(
            parts[0].content_type.split(";")[0], boundary))
        response["Content-Length"] = str(length)
    return _cache(response, scope, etag, request)
