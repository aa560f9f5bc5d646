"""Series browsing, the cart, downloads (zip, .tcia manifest, single files with Range), the
metadata digest and the data use agreement page. (Publishing and withdrawing are the
publication layer's pages: publication/views.py.)

Views parse input, check permission and call the services in services/downloads.py and
services/digest.py.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import storages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from fixity.blocking import refuse_blocked
from tcia.core import objectstore
from tcia.core.permissions import get_visible_or_404, require_curator
from tcia.core.redirects import redirect_next, safe_next

from . import access
from .models import Collection, CollectionVersion, Series
from .selectors import released_series
from .services import digest, downloads
from .services.zipstream import stream_zip

CART_KEY = "cart_series"


def _site_url(request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _refuse(request, collection: Collection, status=403):
    """Why the download is refused, with the way forward (log in, or read and accept the agreement)."""
    return render(request, "collections_app/data_forbidden.html", {"collection": collection}, status=status)


def _download_check(request, collections):
    for collection in collections:
        if not access.can_download(request.user, collection):
            return _refuse(request, collection)
    return None


def _version_or_404(request, version_id) -> CollectionVersion:
    version = get_visible_or_404(CollectionVersion.objects.select_related("collection"), request.user, pk=version_id)
    return version


def _gone(request, version):
    return render(request, "collections_app/data_gone.html", {"version": version}, status=410)


def zip_response(package: downloads.Package) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream_zip(package.members), content_type="application/zip")
    response["Content-Length"] = str(package.length)
    response["Content-Disposition"] = content_disposition_header(True, package.filename)
    return response


def manifest_response(request, selection, name: str, when=None) -> HttpResponse:
    text = downloads.manifest(selection, site_url=_site_url(request), when=when)
    response = HttpResponse(text, content_type="application/x-tcia-manifest; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.tcia")
    return response


def _selection_args(request):
    return request.GET.getlist("series"), request.GET.getlist("study")


# Versions -------------------------------------------------------------------------------------


def _not_modified(request, version, kind: str, *, weak: bool = False):
    """Conditional GET on a version's downloads: the ETag names the frozen manifest, the kind of
    answer and the selection; Last-Modified is the version's creation. A zip is weakly equal
    between downloads (metadata.csv records when it was downloaded), everything else strongly."""
    from django.utils.cache import get_conditional_response
    from django.utils.http import quote_etag

    import hashlib as _hashlib

    key = f"{version.manifest_sha256}:{kind}:{request.GET.urlencode()}"
    etag = quote_etag(_hashlib.sha256(key.encode()).hexdigest()[:32])
    etag = f"W/{etag}" if weak else etag
    modified = int(version.created_at.timestamp())
    return etag, modified, get_conditional_response(request, etag=etag, last_modified=modified)


def _validators(response, etag, modified):
    from django.utils.http import http_date

    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified)
    return response


def version_zip(request, version_id):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused
    etag, modified, unchanged = _not_modified(request, version, "zip", weak=True)
    if unchanged is not None:
        return _validators(unchanged, etag, modified)
    series_uids, study_uids = _selection_args(request)
    selection = downloads.version_selection(version, series_uids=series_uids, study_uids=study_uids)
    if not selection:
        raise Http404("No series of this version match the selection.")
    name = downloads.version_package_name(version)
    extras = []
    if series_uids or study_uids:
        name += "-selection"
    else:
        extras = downloads.version_extras(version)  # the whole version: its supporting files too
    return _validators(zip_response(downloads.build_package(selection, name=name, when=version.created_at, extras=extras)),
                       etag, modified)


def version_manifest(request, version_id):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused  # a manifest lists series UIDs: data level
    etag, modified, unchanged = _not_modified(request, version, "manifest:" + request.get_host())
    if unchanged is not None:
        return _validators(unchanged, etag, modified)
    series_uids, study_uids = _selection_args(request)
    selection = downloads.version_selection(version, series_uids=series_uids, study_uids=study_uids)
    return _validators(manifest_response(request, selection, downloads.version_package_name(version),
                                         when=version.created_at), etag, modified)


def version_digest(request, version_id, per="image"):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused  # the digest holds header values of every image: data level
    etag, modified, unchanged = _not_modified(request, version, f"digest-{per}")
    if unchanged is not None:
        return _validators(unchanged, etag, modified)
    rows = digest.series_csv(version) if per == "series" else digest.image_csv(version)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, digest.filename(version, per))
    return _validators(response, etag, modified)


def version_file(request, version_id, sop_uid):
    """One DICOM file of a version, with HTTP Range for resuming (206/416)."""
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused
    entry = version.entries.filter(sop_instance_uid=sop_uid).select_related("stored_file").first()
    if entry is None:
        raise Http404("No such image in this version.")
    stored = entry.stored_file
    refuse_blocked([stored.storage_name])  # failed the fixity audit: a clear 503, not bad bytes
    etag = f'"{stored.sha256}"'
    from django.utils.cache import get_conditional_response

    unchanged = get_conditional_response(request, etag=etag, last_modified=int(version.created_at.timestamp()))
    if unchanged is not None:
        return _validators(unchanged, etag, int(version.created_at.timestamp()))
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range")
    if if_range and if_range != etag:
        header = ""
    try:
        byte_range = downloads.parse_range(header, stored.size)
    except downloads.RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{stored.size}"
        return response
    moved = objectstore.redirect_response(storages["archive"], stored.storage_name, filename=f"{sop_uid}.dcm",
                                          content_type="application/dicom")
    if moved is not None:
        return moved
    start, end = byte_range or (0, stored.size - 1)
    response = StreamingHttpResponse(downloads.read_range(stored, start, end), content_type="application/dicom",
                                     status=206 if byte_range else 200)
    response["Content-Length"] = str(end - start + 1)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Content-Disposition"] = content_disposition_header(True, f"{sop_uid}.dcm")
    return response


def stored_file_response(request, stored, name: str, content_type: str = ""):
    """One stored file (a derived dataset's, a supporting file's), streamed with HTTP Range
    (206/416) and its sha256 as ETag; on a bucket with TCIA_S3_REDIRECT_DOWNLOADS, a redirect.
    The caller has checked access."""
    content_type = content_type or stored.content_type
    refuse_blocked([stored.storage_name])  # failed the fixity audit: a clear 503, not bad bytes
    try:
        byte_range = downloads.parse_range(request.headers.get("Range", ""), stored.size)
    except downloads.RangeNotSatisfiable:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{stored.size}"
        return response
    moved = objectstore.redirect_response(storages["archive"], stored.storage_name, filename=name, content_type=content_type)
    if moved is not None:
        return moved
    start, end = byte_range or (0, stored.size - 1)
    response = StreamingHttpResponse(downloads.read_range(stored, start, end), content_type=content_type,
                                     status=206 if byte_range else 200)
    response["Content-Length"] = str(end - start + 1)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = f'"{stored.sha256}"'
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def series_zip(request, uid):
    """The latest published files of one series (or a study with ?study=1 semantics via study_zip)."""
    # Catalogue level, so that a limited series answers with the way forward (403), not a 404.
    series = get_object_or_404(released_series(request.user, catalogue=True).select_related("collection"),
                               series_instance_uid=uid)
    refused = _download_check(request, [series.collection])
    if refused:
        return refused
    selection = downloads.latest_selection(Series.objects.filter(pk=series.pk))
    if not selection:
        raise Http404("This series is in no published version.")
    return zip_response(downloads.build_package(selection, name=f"series-{uid[-12:]}"))


def study_zip(request, uid):
    qs = released_series(request.user, catalogue=True).filter(study__study_instance_uid=uid)
    collections = {s.collection for s in qs.select_related("collection")}
    if not collections:
        raise Http404("No released series in this study.")
    refused = _download_check(request, collections)
    if refused:
        return refused
    return zip_response(downloads.build_package(downloads.latest_selection(qs), name=f"study-{uid[-12:]}"))


# Browsing and the cart ----------------------------------------------------------------------


def series_list(request, slug):
    collection = get_visible_or_404(Collection.objects, request.user, slug=slug)
    series = (
        released_series(request.user).filter(collection=collection)
        .select_related("subject", "study").order_by("subject__patient_id", "study__study_date", "series_number")
    )
    return render(request, "collections_app/data_series_list.html", {
        "collection": collection, "series": series[:2000], "cart": set(request.session.get(CART_KEY, [])),
        "version": collection.latest_version, "can_download": access.can_download(request.user, collection),
    })


def _cart_ids(request) -> list[int]:
    return [int(i) for i in request.session.get(CART_KEY, [])]


@require_http_methods(["GET", "POST"])
def cart(request):
    if request.method == "POST":
        ids = set(_cart_ids(request))
        chosen = {int(i) for i in request.POST.getlist("series") if str(i).isdigit()}
        action = request.POST.get("action", "add")
        if action == "add":
            valid = set(released_series(request.user).filter(pk__in=chosen).values_list("pk", flat=True))
            ids |= valid
            messages.success(request, f"{len(valid)} series added to the cart.")
        elif action == "remove":
            ids -= chosen
        elif action == "clear":
            ids = set()
        request.session[CART_KEY] = sorted(ids)
        return redirect_next(request, reverse("data_cart"))
    series = released_series(request.user).filter(pk__in=_cart_ids(request)).select_related("collection", "subject", "study")
    return render(request, "collections_app/data_cart.html", {
        "series": series, "images": sum(s.image_count for s in series), "bytes": sum(s.total_bytes for s in series),
    })


def _cart_selection(request):
    qs = released_series(request.user).filter(pk__in=_cart_ids(request))
    return qs, downloads.latest_selection(qs)


def cart_zip(request):
    qs, selection = _cart_selection(request)
    if not selection:
        raise Http404("The cart is empty.")
    refused = _download_check(request, {p.series.collection for p in selection})
    if refused:
        return refused
    return zip_response(downloads.build_package(selection, name="cart"))


def cart_manifest(request):
    qs, selection = _cart_selection(request)
    if not selection:
        raise Http404("The cart is empty.")
    return manifest_response(request, selection, "cart")


# Data use agreement ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def agreement(request, slug):
    collection = get_visible_or_404(Collection.objects, request.user, slug=slug)
    accepted = access.has_accepted(request.user, collection)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        if request.POST.get("accept") != "yes":
            messages.error(request, "Tick the box to accept the agreement.")
        else:
            access.accept_agreement(user=request.user, collection=collection)
            messages.success(request, "Agreement accepted; you can now download this collection.")
            return redirect_next(request, reverse("data_series", args=[collection.slug]))
    return render(request, "collections_app/data_agreement.html", {
        "collection": collection, "accepted": accepted, "next": safe_next(request, ""),
    })
