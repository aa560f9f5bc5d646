"""Curator pages for findings, corrections (tag edit with preview, proposed fixes, undo) and the
correction history of any object. Staff only: anyone else gets a 404."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Image, Series, Study, Subject
from curation.models import Correction
from tcia.core.permissions import curator_required, get_visible_or_404
from tcia.core.redirects import redirect_next

from . import engine, services
from .fixes import describe
from .models import CheckRun, CheckState, Finding

OBJECT_KINDS = {"image": Image, "series": Series, "study": Study, "subject": Subject}


def _collection(slug):
    return get_object_or_404(Collection, slug=slug)


@curator_required
def findings(request, slug):
    collection = _collection(slug)
    qs = Finding.objects.filter(collection=collection).select_related("subject", "study", "series")
    filters = {k: request.GET.get(k, "") for k in ("check", "severity", "status", "scope")}
    if "status" not in request.GET:
        filters["status"] = "open"
    for field, key in (("check_name", "check"), ("severity", "severity"), ("status", "status"), ("scope", "scope")):
        if filters[key]:
            qs = qs.filter(**{field: filters[key]})
    order = {"error": 0, "warning": 1, "info": 2}
    page = Paginator(qs.order_by("check_name", "severity", "id"), 200).get_page(request.GET.get("page"))
    groups = {}
    for f in sorted(page.object_list, key=lambda f: (f.check_name, order[f.severity], f.pk)):
        groups.setdefault(f.check_name, []).append(f)
    counts = {(r["severity"], r["status"]): r["n"] for r in
              Finding.objects.filter(collection=collection).values("severity", "status").annotate(n=Count("id"))}
    state = CheckState.objects.filter(collection=collection).first()
    run = CheckRun.objects.filter(collection=collection).first()
    return render(request, "checks/findings.html", {
        "collection": collection, "groups": [(k, engine.CHECK_LABELS.get(k, k), v) for k, v in groups.items()],
        "page": page, "filters": filters, "counts": counts, "state": state, "run": run,
        "checks": engine.CHECK_LABELS, "severities": Finding.Severity.choices, "statuses": Finding.Status.choices,
        "scopes": Finding.Scope.choices,
        "open_errors": counts.get(("error", "open"), 0), "open_warnings": counts.get(("warning", "open"), 0),
    })


@curator_required
@require_POST
def run_checks(request, slug):
    collection = _collection(slug)
    services.start_run(collection=collection, actor=request.user)
    messages.success(request, "Checks queued; the page shows their progress.")
    return redirect("curation:checks:findings", slug=slug)


@curator_required
def run_status(request, pk):
    run = get_visible_or_404(CheckRun.objects, request.user, pk=pk)
    return JsonResponse({"state": run.state, "done": run.done, "total": run.total, "percent": run.percent,
                         "current": run.current, "found": run.found, "new": run.new, "resolved": run.resolved,
                         "error": run.error})


@curator_required
def finding_detail(request, pk):
    finding = get_visible_or_404(Finding.objects.select_related("collection", "subject", "study", "series"),
                                 request.user, pk=pk)
    preview = None
    if finding.fix and finding.status == "open":
        try:
            preview = services.preview(collection=finding.collection, spec=finding.fix, limit=20)
        except Exception as exc:  # noqa: BLE001 - a preview must not break the page
            messages.error(request, f"Could not preview the fix: {exc}")
    return render(request, "checks/finding_detail.html", {
        "finding": finding, "collection": finding.collection, "images": finding.images.select_related("series")[:50],
        "preview": preview, "fix_text": describe(finding.fix) if finding.fix else "",
    })


@curator_required
@require_POST
def finding_action(request, pk):
    finding = get_visible_or_404(Finding.objects.select_related("collection"), request.user, pk=pk)
    action = request.POST.get("action")
    reason = request.POST.get("reason", "").strip()
    try:
        if action == "waive":
            services.waive(findings=[finding], actor=request.user, reason=reason)
            messages.success(request, "Finding waived.")
        elif action == "fix":
            correction = services.apply_fix(finding=finding, actor=request.user, reason=reason or finding.fix_label)
            messages.success(request, "The fix is running as a correction.")
            return redirect("curation:checks:correction", pk=correction.pk)
        elif action == "reopen":
            services.reopen(finding=finding, actor=request.user, reason=reason or "reopened")
        else:
            raise ValueError("unknown action")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("curation:checks:finding", pk=finding.pk)


@curator_required
@require_POST
def bulk(request, slug):
    collection = _collection(slug)
    ids = [int(i) for i in request.POST.getlist("finding") if i.isdigit()]
    chosen = list(Finding.objects.filter(collection=collection, pk__in=ids))
    reason = request.POST.get("reason", "").strip()
    action = request.POST.get("action")
    try:
        if not chosen:
            raise ValueError("Select at least one finding.")
        if action == "waive":
            n = services.waive(findings=chosen, actor=request.user, reason=reason)
            messages.success(request, f"{n} finding(s) waived.")
        elif action == "fix":
            if not reason:
                raise ValueError("Applying fixes needs a reason.")
            done = services.apply_fixes(findings=chosen, actor=request.user, reason=reason)
            messages.success(request, f"{len(done)} fix(es) queued; {len(chosen) - len(done)} selected finding(s) had none.")
        else:
            raise ValueError("Choose waive or fix.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect_next(request, reverse("curation:checks:findings", args=[slug]))


SCOPES = ("image", "series", "study", "subject", "collection")


@curator_required
def tag_edit(request, slug):
    collection = _collection(slug)
    data = request.POST if request.method == "POST" else request.GET
    form = {k: data.get(k, "") for k in ("scope", "target", "path", "value", "delete", "reason")}
    form["scope"] = form["scope"] or "series"
    preview = None
    target_label = ""
    if data.get("path"):
        try:
            pk, target_label = _target(collection, form["scope"], form["target"])
            spec = {"op": "delete" if form["delete"] else "set", "path": form["path"].strip(),
                    "select": {"scope": form["scope"], "pk": pk}}
            if not form["delete"]:
                spec["value"] = form["value"]
            if request.method == "POST" and data.get("action") == "apply":
                correction = services.tag_edit(collection=collection, scope=form["scope"], pk=pk, path=spec["path"],
                                               value=form["value"], delete=bool(form["delete"]), actor=request.user,
                                               reason=form["reason"])
                messages.success(request, "The edit is running as a correction.")
                return redirect("curation:checks:correction", pk=correction.pk)
            preview = services.preview(collection=collection, spec=spec, limit=100)
        except (ValueError, Http404) as exc:
            messages.error(request, str(exc))
    return render(request, "checks/tag_edit.html", {"collection": collection, "form": form, "preview": preview,
                                                    "scopes": SCOPES, "target_label": target_label})


def _target(collection, scope, target):
    """The pk of the object a scope names (by UID, patient ID or pk) and a label for it."""
    target = (target or "").strip()
    if scope == "collection":
        return collection.pk, collection.title
    lookups = {
        "image": (Image.objects.filter(series__collection=collection), "sop_instance_uid"),
        "series": (Series.objects.filter(collection=collection), "series_instance_uid"),
        "study": (Study.objects.filter(collection=collection), "study_instance_uid"),
        "subject": (Subject.objects.filter(collection=collection), "patient_id"),
    }
    if scope not in lookups:
        raise ValueError("Choose a scope.")
    qs, field = lookups[scope]
    obj = qs.filter(**{field: target}).first() or (qs.filter(pk=int(target)).first() if target.isdigit() else None)
    if obj is None:
        raise ValueError(f"No {scope} {target!r} in this collection.")
    return obj.pk, f"{scope} {getattr(obj, field)}"


@curator_required
def corrections(request, slug):
    collection = _collection(slug)
    page = Paginator(Correction.objects.filter(collection=collection).select_related("actor", "undoes"), 50)\
        .get_page(request.GET.get("page"))
    return render(request, "checks/corrections.html", {"collection": collection, "page": page})


@curator_required
def correction_detail(request, pk):
    correction = get_visible_or_404(Correction.objects.select_related("collection", "actor", "undoes"), request.user, pk=pk)
    files = correction.files.select_related("image__series", "old_file", "new_file")[:500]
    return render(request, "checks/correction_detail.html", {
        "correction": correction, "collection": correction.collection, "files": files,
        "undone": correction.undone_by.filter(state="applied").first(),
    })


@curator_required
def correction_status(request, pk):
    c = get_visible_or_404(Correction.objects, request.user, pk=pk)
    return JsonResponse({"state": c.state, "done": c.done, "total": c.total, "error": c.error,
                         "percent": int(100 * c.done / c.total) if c.total else 0})


@curator_required
@require_POST
def correction_undo(request, pk):
    correction = get_visible_or_404(Correction.objects.select_related("collection"), request.user, pk=pk)
    try:
        services.start_undo(correction=correction, actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, "Undo queued: a new correction restores the earlier files.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("curation:checks:correction", pk=correction.pk)


@curator_required
def history(request, kind, pk):
    model = OBJECT_KINDS.get(kind)
    if model is None:
        raise Http404("Not found")
    obj = get_object_or_404(model, pk=pk)
    collection = obj.series.collection if kind == "image" else obj.collection
    entries = services.history(images=services.images_for(kind, obj))
    return render(request, "checks/history.html", {"obj": obj, "kind": kind, "collection": collection, "entries": entries})
