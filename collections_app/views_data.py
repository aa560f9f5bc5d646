"""Series browsing, the cart, downloads (zip, .tcia manifest, single files with Range), the
metadata digest, the data use agreement page, and the curators' publish and withdraw pages.

Views parse input, check permission and call the services in services/downloads.py,
services/digest.py and services/publish.py.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import storages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from tcia.core import objectstore
from tcia.core.permissions import get_visible_or_404, require_curator
from tcia.core.redirects import redirect_next, safe_next

from . import access
from .models import Collection, CollectionVersion, Series
from .selectors import released_series
from .services import digest, downloads
from .services.publish import PublishBlocked, gate_failures, publish
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


def version_zip(request, version_id):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused
    series_uids, study_uids = _selection_args(request)
    selection = downloads.version_selection(version, series_uids=series_uids, study_uids=study_uids)
    if not selection:
        raise Http404("No series of this version match the selection.")
    name = downloads.version_package_name(version)
    if series_uids or study_uids:
        name += "-selection"
    return zip_response(downloads.build_package(selection, name=name, when=version.created_at))


def version_manifest(request, version_id):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused  # a manifest lists series UIDs: data level
    series_uids, study_uids = _selection_args(request)
    selection = downloads.version_selection(version, series_uids=series_uids, study_uids=study_uids)
    return manifest_response(request, selection, downloads.version_package_name(version), when=version.created_at)


def version_digest(request, version_id, per="image"):
    version = _version_or_404(request, version_id)
    if version.withdrawn_at:
        return _gone(request, version)
    refused = _download_check(request, [version.collection])
    if refused:
        return refused  # the digest holds header values of every image: data level
    rows = digest.series_csv(version) if per == "series" else digest.image_csv(version)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, digest.filename(version, per))
    return response


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
    etag = f'"{stored.sha256}"'
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
    from doi.selectors import latest_version

    return render(request, "collections_app/data_series_list.html", {
        "collection": collection, "series": series[:2000], "cart": set(request.session.get(CART_KEY, [])),
        "version": latest_version(collection), "can_download": access.can_download(request.user, collection),
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


def _published_subset_or_404(request, pk):
    """A published subset all of whose collections the user may see (else a 404: a subset of a
    collection back in curation names nothing to the public)."""
    from doi.models import DatasetStatus, Subset
    from doi.selectors import subset_visible

    subset = get_object_or_404(Subset, pk=pk, status=DatasetStatus.PUBLISHED)
    if not subset_visible(subset, request.user):
        raise Http404("No such subset.")
    return subset


def subset_zip(request, pk):
    subset = _published_subset_or_404(request, pk)
    selection = downloads.subset_selection(subset)
    refused = _download_check(request, {p.series.collection for p in selection})
    if refused:
        return refused
    return zip_response(downloads.build_package(selection, name=f"subset-{subset.pk}", when=subset.decided_at))


def subset_manifest(request, pk):
    subset = _published_subset_or_404(request, pk)
    selection = downloads.subset_selection(subset)
    refused = _download_check(request, {p.series.collection for p in selection})
    if refused:
        return refused
    return manifest_response(request, selection, f"subset-{subset.pk}", when=subset.decided_at)


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


# Curators: publish and withdraw ---------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def publish_page(request, slug):
    require_curator(request.user)
    collection = get_object_or_404(Collection, slug=slug)
    failures = gate_failures(collection)
    if request.method == "POST":
        try:
            version = publish(collection, actor=request.user, notes=request.POST.get("notes", ""),
                              major=request.POST.get("kind", "major") != "minor")
        except PublishBlocked as blocked:
            failures = blocked.failures
            messages.error(request, "Not published: the gates below failed.")
        else:
            from doi.selectors import citable_doi_for_version

            messages.success(request, f"Published version {version.number}.")
            d = citable_doi_for_version(version)
            return redirect(d.get_absolute_url() if d else reverse("data_publish", args=[slug]))
    from doi.selectors import published_versions

    return render(request, "collections_app/data_publish.html", {
        "collection": collection, "failures": failures, "versions": published_versions(collection),
    })


@login_required
@require_POST
def withdraw_version(request, slug, number):
    require_curator(request.user)
    version = get_object_or_404(CollectionVersion, collection__slug=slug, number=number)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Give a reason for withdrawing the version.")
        return redirect(reverse("data_publish", args=[slug]))
    from doi.services import withdraw_version as withdraw

    withdraw(version, actor=request.user, reason=reason)
    messages.success(request, f"Version {number} withdrawn.")
    return redirect(reverse("data_publish", args=[slug]))
