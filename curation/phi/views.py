"""The PHI report page (grouped by tag path, with per-tag pages), marks, applying them, the CSV
round trip (export, import as proposed dispositions, preview, apply), sign-off, and the
de-identification self-score. Staff only: anyone else gets a 404."""
import base64
import csv
import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_app.models import Collection
from curation.models import Correction, Submission
from tcia.core.permissions import curator_required
from tcia.core.redirects import redirect_next

from . import report, roundtrip, selfscore, services
from .models import PhiImport, PhiMark, PhiValue

FILTERS = ("vr", "private", "likely", "kind", "tag", "q", "own", "marked")
KINDS = ("name", "date", "id", "address", "phone", "email")
GROUPS_PER_PAGE = 20
ROWS_PER_TAG = 10
ROWS_PER_PAGE = 100
TAG_COUNT_CAP = 1000


def _filters(params):
    f = {k: params.get(k, "").strip() for k in FILTERS}
    return f, dict(vr=f["vr"], private=f["private"], likely=bool(f["likely"]), kind=f["kind"] if f["kind"] in KINDS else "",
                   show_own=bool(f["own"]), tag=f["tag"], q=f["q"], marked=bool(f["marked"]))


def _cursor_encode(cursor):
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode() if cursor else ""


def _cursor_decode(text):
    try:
        value = json.loads(base64.urlsafe_b64decode(text.encode()).decode())
        if isinstance(value, str):
            return value
        tag_path, pk = value
        return str(tag_path), int(pk)
    except Exception:  # noqa: BLE001 - a bad cursor is the first page
        return None


def _query(f, **extra):
    params = {k: v for k, v in f.items() if v}
    params.update({k: v for k, v in extra.items() if v})
    from urllib.parse import urlencode

    return "?" + urlencode(params) if params else "?"


@curator_required
def report_page(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    f, kw = _filters(request.GET)
    qs = report.filtered(collection, **kw)
    path = request.GET.get("path", "").strip()
    after = _cursor_decode(request.GET.get("after", ""))
    context = {"collection": collection, "filters": f, "path": path}
    if path:  # one tag path, its values 100 a page
        rows, cursor = report.page(qs.filter(tag_path=path), after=after if isinstance(after, tuple) else None,
                                   size=ROWS_PER_PAGE)
        count, capped = report.count_capped(qs.filter(tag_path=path), 100_000)
        context.update(groups=[{"tag_path": path, "keyword": rows[0].keyword if rows else "", "count": count,
                                "more": capped, "rows": rows, "hidden": 0}],
                       next_url=_query(f, path=path, after=_cursor_encode(cursor)) if cursor else None,
                       all_url=_query(f), first_url=_query(f, path=path) if after else None)
    else:
        groups, next_tag = report.tag_groups(qs, after_tag=after if isinstance(after, str) else None,
                                             groups=GROUPS_PER_PAGE, per_tag=ROWS_PER_TAG, cap=TAG_COUNT_CAP)
        for g in groups:
            g["url"] = _query(f, path=g["tag_path"])
        context.update(groups=groups, next_url=_query(f, after=_cursor_encode(next_tag)) if next_tag else None,
                       first_url=_query(f) if after else None)
    value_rows = report.facet_total(collection)  # the report's value rows (report.value_rows), always
    shown = None
    if not (kw["tag"] or kw["q"] or kw["marked"] or kw["kind"]):
        shown = report.facet_total(collection, vr=kw["vr"], private=kw["private"], likely=kw["likely"],
                                   show_own=kw["show_own"])
    pending = services.pending_marks(collection).count()
    submission = Submission.objects.filter(collection=collection).first()
    context.update({
        "value_rows": value_rows, "shown": shown, "own_shown": (shown - value_rows) if shown is not None and kw["show_own"]
        and not (kw["vr"] or kw["private"] or kw["likely"]) else None, "filtered": any(f.values()),
        "vrs": report.vr_choices(collection), "kinds": KINDS, "actions": PhiMark.Action.choices,
        "status": services.signoff_status(collection), "pending": pending,
        "sections": report.sections(collection),
        "likely": report.facet_total(collection, likely=True),
        "running": Correction.objects.filter(collection=collection, kind="phi", state__in=["pending", "running"]).first(),
        "export_url": reverse("curation:phi:export", args=[slug]) + _query(f),
        "import_url": reverse("curation:phi:import", args=[slug]),
        "score_url": reverse("curation:phi:selfscore", args=[slug]) if submission else None,
    })
    return render(request, "phi/report.html", context)


@curator_required
@require_POST
def mark(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    ids = [int(i) for i in request.POST.getlist("value") if i.isdigit()]
    values = PhiValue.objects.filter(collection=collection, pk__in=ids)
    try:
        if not ids:
            raise ValueError("Select at least one value.")
        n = services.mark(values=values, action=request.POST.get("action", ""), argument=request.POST.get("argument", ""),
                          actor=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"{n} value{'s' if n != 1 else ''} marked {request.POST.get('action')}.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect_next(request, reverse("curation:phi:report", args=[slug]))


@curator_required
@require_POST
def apply(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    try:
        correction = services.apply_marks(collection=collection, actor=request.user,
                                          reason=request.POST.get("reason", "").strip())
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("curation:phi:report", slug=slug)
    if correction is None:
        messages.info(request, "No pending disposition to apply.")
        return redirect("curation:phi:report", slug=slug)
    messages.success(request, "Dispositions are being applied as a correction.")
    return redirect("curation:checks:correction", pk=correction.pk)


@curator_required
@require_POST
def sign(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation to sign.")
    else:
        try:
            signoff = services.sign_off(collection=collection, actor=request.user, statement=request.POST.get("statement", ""))
        except services.SignOffRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Signed: {signoff.rows} value row{'s' if signoff.rows != 1 else ''}, "
                                      f"digest {signoff.digest[:16]}….")
    return redirect("curation:phi:report", slug=slug)


class _Echo:
    def write(self, value):
        return value


@curator_required
def export(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    _, kw = _filters(request.GET)
    writer = csv.writer(_Echo())
    rows = roundtrip.csv_rows(report.filtered(collection, **kw))
    response = StreamingHttpResponse((writer.writerow(r) for r in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-phi-report.csv"'
    return response


@curator_required
def import_csv(request, slug):
    """Upload an edited export: its dispositions become proposals, previewed before they apply."""
    collection = get_object_or_404(Collection, slug=slug)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = "Choose the CSV file to import."
        elif upload.size > roundtrip.MAX_BYTES:
            error = f"{upload.name}: {upload.size} bytes is over the limit of {roundtrip.MAX_BYTES} bytes."
        else:
            try:
                phi_import = roundtrip.read_import(collection=collection, data=upload.read(), filename=upload.name,
                                                   actor=request.user)
            except roundtrip.ImportError_ as exc:
                error = str(exc)
            else:
                return redirect("curation:phi:import_preview", slug=slug, pk=phi_import.pk)
    imports = PhiImport.objects.filter(collection=collection).select_related("actor")[:10]
    return render(request, "phi/import.html", {"collection": collection, "error": error, "imports": imports},
                  status=400 if error else 200)


@curator_required
def import_preview(request, slug, pk):
    collection = get_object_or_404(Collection, slug=slug)
    phi_import = get_object_or_404(PhiImport, pk=pk, collection=collection)
    proposals = phi_import.proposals.select_related("value").order_by("row")
    page = Paginator(proposals, 100).get_page(request.GET.get("page"))
    return render(request, "phi/import_preview.html", {
        "collection": collection, "phi_import": phi_import, "page": page, "proposed": proposals.count(),
        "errors": phi_import.errors,
    })


@curator_required
@require_POST
def import_apply(request, slug, pk):
    collection = get_object_or_404(Collection, slug=slug)
    phi_import = get_object_or_404(PhiImport, pk=pk, collection=collection)
    try:
        n = roundtrip.apply_import(phi_import=phi_import, actor=request.user, reason=request.POST.get("reason", "").strip())
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("curation:phi:import_preview", slug=slug, pk=pk)
    messages.success(request, f"{n} proposed disposition{'s' if n != 1 else ''} recorded as marks; "
                              "apply them to the files from the report.")
    return redirect("curation:phi:report", slug=slug)


@curator_required
@require_POST
def import_discard(request, slug, pk):
    collection = get_object_or_404(Collection, slug=slug)
    phi_import = get_object_or_404(PhiImport, pk=pk, collection=collection)
    try:
        roundtrip.discard_import(phi_import=phi_import, actor=request.user)
        messages.info(request, "Import discarded; no disposition changed.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect("curation:phi:import", slug=slug)


@curator_required
def selfscore_page(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    submission = get_object_or_404(Submission, collection=collection)
    return render(request, "phi/selfscore.html", {"collection": collection, "score": selfscore.self_score(submission)})
