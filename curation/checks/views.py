"""Curator pages for findings, corrections (tag edit with preview, proposed fixes, undo) and the
correction history of any object. Staff only: anyone else gets a 404."""

import logging
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Min, Q, When
from django.template.defaultfilters import pluralize
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

logger = logging.getLogger(__name__)
OBJECT_KINDS = {"image": Image, "series": Series, "study": Study, "subject": Subject}


def _collection(slug):
    return get_object_or_404(Collection, slug=slug)


GROUPS_PER_PAGE = 25
SHOWN_PER_GROUP = 20
FINDINGS_PER_PAGE = 100
FILTER_KEYS = ("check", "severity", "status", "scope", "subject", "group")
_RANK = Case(When(severity="error", then=0), When(severity="warning", then=1), default=2, output_field=IntegerField())


def _filters(data) -> dict:
    filters = {k: (data.get(k) or "").strip() for k in FILTER_KEYS}
    if "status" not in data:
        filters["status"] = "open"
    return filters


def _filtered(collection, filters):
    qs = Finding.objects.filter(collection=collection)
    for field, key in (("check_name", "check"), ("severity", "severity"), ("status", "status"), ("scope", "scope"),
                       ("subject__patient_id", "subject"), ("group_key", "group")):
        if filters[key]:
            qs = qs.filter(**{field: filters[key]})
    return qs


@curator_required
def findings(request, slug):
    """Findings grouped by check and message template, with counts; each group opens onto its
    first findings, or (with ?group=) onto all of them, paginated. Filters: check, severity,
    status, scope, subject."""
    collection = _collection(slug)
    filters = _filters(request.GET)
    qs = _filtered(collection, filters)
    groups_qs = (qs.values("check_name", "group_key", "template")
                 .annotate(n=Count("id"), rank=Min(_RANK), errors=Count("id", filter=Q(severity="error")),
                           warnings=Count("id", filter=Q(severity="warning")),
                           fixable=Count("id", filter=Q(fix__isnull=False, status="open")))
                 .order_by("rank", "check_name", "-n", "group_key"))
    one_group = bool(filters["group"])
    page = Paginator(groups_qs, GROUPS_PER_PAGE).get_page(None if one_group else request.GET.get("page"))
    groups = []
    finding_page = None
    for g in page.object_list:
        items = qs.filter(group_key=g["group_key"]).select_related("subject", "study", "series").order_by(_RANK, "id")
        if one_group:
            finding_page = Paginator(items, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
            shown = list(finding_page.object_list)
        else:
            shown = list(items[:SHOWN_PER_GROUP])
        groups.append(dict(g, label=engine.CHECK_LABELS.get(g["check_name"], g["check_name"]), items=shown,
                           more=g["n"] - len(shown) if not one_group else 0))
    counts = {(r["severity"], r["status"]): r["n"] for r in
              Finding.objects.filter(collection=collection).values("severity", "status").annotate(n=Count("id"))}
    state = CheckState.objects.filter(collection=collection).first()
    run = CheckRun.objects.filter(collection=collection).first()
    base = {k: v for k, v in filters.items() if v and k != "group"}
    if "status" in request.GET or filters["status"] != "open":
        base["status"] = filters["status"]
    return render(request, "checks/findings.html", {
        "collection": collection, "groups": groups, "page": page, "finding_page": finding_page, "filters": filters,
        "filter_query": urlencode(base), "counts": counts, "state": state, "run": run,
        "total": qs.count(), "group_count": page.paginator.count,
        "checks": engine.CHECK_LABELS, "severities": Finding.Severity.choices, "statuses": Finding.Status.choices,
        "scopes": Finding.Scope.choices, "samples": SAMPLES,
        "open_errors": counts.get(("error", "open"), 0), "open_warnings": counts.get(("warning", "open"), 0),
    })


SAMPLES = (("", "every file"), ("one_per_series", "one file per series"), ("3", "3 files per series"))


@curator_required
@require_POST
def run_checks(request, slug):
    collection = _collection(slug)
    try:
        services.start_run(collection=collection, actor=request.user,
                           dciodvfy_sample=request.POST.get("dciodvfy_sample", "").strip())
        messages.success(request, "Checks queued; the page shows their progress.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("curation:checks:findings", slug=slug)


@curator_required
def run_status(request, pk):
    run = get_visible_or_404(CheckRun.objects, request.user, pk=pk)
    return JsonResponse({"state": run.state, "done": run.done, "total": run.total, "percent": run.percent,
                         "current": run.current, "found": run.found, "new": run.new, "resolved": run.resolved,
                         "error": run.error})


PREVIEW_FAILED = "The fix could not be previewed (a file could not be read). Reload the page to try again."


@curator_required
def finding_detail(request, pk):
    finding = get_visible_or_404(Finding.objects.select_related("collection", "subject", "study", "series"),
                                 request.user, pk=pk)
    preview = None
    if finding.fix and finding.status == "open":
        try:
            preview = services.preview(collection=finding.collection, spec=finding.fix, limit=20)
        except Exception as exc:  # noqa: BLE001 - a preview must not break the page; no exception text shown
            logger.warning("preview of finding %s failed (%s)", finding.pk, type(exc).__name__)
            messages.error(request, PREVIEW_FAILED)
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
            return redirect("curation:checks:correction", pk=correction.pk)
        elif action == "reopen":
            services.reopen(finding=finding, actor=request.user, reason=reason or "reopened")
        else:
            raise ValueError("unknown action")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("curation:checks:finding", pk=finding.pk)


def _chosen(collection, data):
    """The findings a bulk form names: ticked findings, plus every finding of each ticked group
    that matches the filters the page showed."""
    ids = [int(i) for i in data.getlist("finding") if i.isdigit()]
    groups = [g for g in data.getlist("group") if g]
    q = Q(pk__in=ids)
    if groups:
        q |= Q(pk__in=_filtered(collection, dict(_filters(data), group="")).filter(group_key__in=groups).values("pk"))
    return list(Finding.objects.filter(collection=collection).filter(q).select_related("collection").order_by("pk"))


@curator_required
@require_POST
def bulk(request, slug):
    collection = _collection(slug)
    chosen = _chosen(collection, request.POST)
    reason = request.POST.get("reason", "").strip()
    action = request.POST.get("action")
    try:
        if not chosen:
            raise ValueError("Select at least one finding or group.")
        if action == "waive":
            n = services.waive(findings=chosen, actor=request.user, reason=reason)
            messages.success(request, f"{n} finding{pluralize(n)} waived.")
        elif action == "preview":
            return _bulk_preview(request, collection, chosen, reason)
        elif action == "fix":
            if not reason:
                raise ValueError("Applying fixes needs a reason.")
            corrections = services.apply_fixes(findings=chosen, actor=request.user, reason=reason)
            fixed = sum(len((c.spec or {}).get("findings") or []) for c in corrections)
            if not corrections:
                raise ValueError("None of the selected findings has a proposed fix.")
            left = len(chosen) - fixed
            messages.success(request, f"{fixed} fix{'es' if fixed != 1 else ''} running as one correction"
                             + (f"; {left} selected finding{pluralize(left)} had none." if left else "."))
            return redirect("curation:checks:correction", pk=corrections[0].pk)
        else:
            raise ValueError("Choose waive, preview or fix.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect_next(request, reverse("curation:checks:findings", args=[slug]))


def _bulk_preview(request, collection, chosen, reason):
    spec, fixable = services.fixes_spec(chosen)
    preview = None
    if spec is not None:
        try:
            preview = services.preview(collection=collection, spec=spec, limit=50)
        except Exception as exc:  # noqa: BLE001 - no exception text to the curator
            logger.warning("bulk preview failed (%s)", type(exc).__name__)
            messages.error(request, PREVIEW_FAILED)
    return render(request, "checks/bulk_preview.html", {
        "collection": collection, "chosen": chosen, "fixable": fixable, "preview": preview, "reason": reason,
        "next": request.POST.get("next", ""),
    })


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
@require_POST
def correction_retry(request, pk):
    correction = get_visible_or_404(Correction.objects.select_related("collection"), request.user, pk=pk)
    try:
        services.retry_correction(correction=correction, actor=request.user)
        messages.success(request, "The correction is running again.")
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
