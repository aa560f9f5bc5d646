"""Curator pages of supporting data (attach with progress, profile and dispositions, findings,
revisions) and the public downloads of a version's supporting files and their digest."""
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from collections_app import views_data
from collections_app.models import Collection
from tcia.core.permissions import curator_required

from . import publishing, services
from .forms import AttachForm
from .models import Disposition, SupportingFile


@curator_required
@require_http_methods(["GET", "POST"])
def file_list(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    form = AttachForm(request.POST or None, request.FILES or None)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                sf = services.attach(collection, name=upload.name, data=upload.read(), kind=form.cleaned_data["kind"],
                                     description=form.cleaned_data["description"],
                                     subject_column=form.cleaned_data["subject_column"], actor=request.user,
                                     replace=form.cleaned_data["replace"])
            except services.AttachError as exc:
                if wants_json:
                    return JsonResponse({"error": str(exc)}, status=400)
                messages.error(request, f"Not attached: {exc}")
            else:
                if wants_json:
                    return JsonResponse({"url": sf_url(sf), "name": sf.name})
                messages.success(request, f"Attached {sf.name}.")
                return redirect(sf_url(sf))
        elif wants_json:
            return JsonResponse({"error": "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())}, status=400)
    files = SupportingFile.objects.filter(collection=collection).select_related("stored_file")
    return render(request, "supporting/list.html", {
        "collection": collection, "form": form, "files": files,
        "pending": services.unreviewed_columns(collection).count(),
    })


def sf_url(sf):
    from django.urls import reverse

    return reverse("supporting:detail", args=[sf.pk])


@curator_required
def file_detail(request, pk):
    sf = get_object_or_404(SupportingFile.objects.select_related("collection", "stored_file"), pk=pk)
    profile, error = [], ""
    if sf.is_table:
        try:
            profile = services.column_profile(sf)
        except (services.tables.TableError, OSError):
            error = "The table could not be read from the archive."
    reviews = {r.column: r for r in sf.columns.select_related("reviewed_by")}
    rows = [{"p": p, "review": reviews.get(p.column)} for p in profile]
    return render(request, "supporting/detail.html", {
        "sf": sf, "collection": sf.collection, "rows": rows, "error": error,
        "revisions": sf.revisions.select_related("stored_file", "actor"), "findings": services.findings_of(sf),
        "dispositions": Disposition.choices, "header": sf.info.get("columns", []),
        "removed": [r for c, r in reviews.items() if r.disposition == Disposition.REMOVE],
    })


@curator_required
@require_POST
def dispositions(request, pk):
    sf = get_object_or_404(SupportingFile, pk=pk)
    decisions = {key[len("d:"):]: value for key, value in request.POST.items() if key.startswith("d:") and value}
    if not decisions:
        messages.error(request, "Choose a disposition for at least one column.")
        return redirect(sf_url(sf))
    try:
        revision = services.apply_dispositions(sf, decisions, actor=request.user, reason=request.POST.get("reason", ""))
    except services.AttachError as exc:
        messages.error(request, f"Not applied: {exc}")
    else:
        messages.success(request, f"Applied: revision {revision.number} is a new file." if revision else "Recorded.")
    return redirect(sf_url(sf))


@curator_required
@require_POST
def subject_column(request, pk):
    sf = get_object_or_404(SupportingFile, pk=pk)
    try:
        services.set_subject_column(sf, request.POST.get("column", ""), actor=request.user)
    except services.AttachError as exc:
        messages.error(request, str(exc))
    return redirect(sf_url(sf))


@curator_required
@require_POST
def detach(request, pk):
    sf = get_object_or_404(SupportingFile, pk=pk)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Say why the file is left out.")
        return redirect(sf_url(sf))
    services.detach(sf, actor=request.user, reason=reason)
    messages.success(request, f"{sf.name} is left out of the next versions.")
    return redirect("supporting:list", sf.collection.slug)


@curator_required
@require_POST
def recheck(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    n = services.check_collection(collection)
    messages.success(request, f"Checked: {n} open finding{'s' if n != 1 else ''} on supporting files.")
    return redirect("supporting:list", slug)


@curator_required
def file_download(request, pk):
    sf = get_object_or_404(SupportingFile.objects.select_related("stored_file"), pk=pk)
    return views_data.stored_file_response(request, sf.stored_file, sf.name, sf.content_type)


def _public_version(request, version_id):
    version = views_data._version_or_404(request, version_id)
    if version.withdrawn_at:
        return version, views_data._gone(request, version)
    return version, views_data._download_check(request, [version.collection])


def version_file(request, version_id, name):
    """/downloads/versions/<id>/supporting/<name>: one supporting file of a version."""
    version, refused = _public_version(request, version_id)
    if refused:
        return refused
    entry = publishing.entries(version).filter(name=name).first()
    if entry is None:
        raise Http404("No such supporting file in this version.")
    return views_data.stored_file_response(request, entry.stored_file, entry.name, entry.content_type)


def version_digest(request, version_id):
    """The supporting data digest (CSV) of a version."""
    version, refused = _public_version(request, version_id)
    if refused:
        return refused
    response = HttpResponse(publishing.digest_csv(version), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, f"{version.collection.short_name}_v{version.number}_SupportingData.csv")
    return response


