"""The PHI report page: filters, keyset pages, marks, applying them, CSV export, sign-off.
Staff only: anyone else gets a 404."""
import base64
import csv
import json

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_app.models import Collection
from tcia.core.permissions import curator_required
from tcia.core.redirects import redirect_next
from curation.models import Correction

from . import report, services
from .models import PhiMark, PhiValue

FILTERS = ("vr", "private", "likely", "kind", "tag", "q", "own", "marked")
KINDS = ("name", "date", "id", "address", "phone", "email")


def _filters(params):
    f = {k: params.get(k, "").strip() for k in FILTERS}
    return f, dict(vr=f["vr"], private=f["private"], likely=bool(f["likely"]), kind=f["kind"] if f["kind"] in KINDS else "",
                   show_own=bool(f["own"]), tag=f["tag"], q=f["q"], marked=bool(f["marked"]))


def _cursor_encode(cursor):
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode() if cursor else ""


def _cursor_decode(text):
    try:
        tag_path, pk = json.loads(base64.urlsafe_b64decode(text.encode()).decode())
        return str(tag_path), int(pk)
    except Exception:  # noqa: BLE001 - a bad cursor is the first page
        return None


@curator_required
def report_page(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    f, kw = _filters(request.GET)
    qs = report.filtered(collection, **kw)
    after = _cursor_decode(request.GET.get("after", ""))
    rows, cursor = report.page(qs, after=after, size=100)
    total = None
    if not (kw["tag"] or kw["q"] or kw["marked"] or kw["kind"]):
        total = report.facet_total(collection, vr=kw["vr"], private=kw["private"], likely=kw["likely"], show_own=kw["show_own"])
    base = request.GET.copy()
    base.pop("after", None)
    next_url = None
    if cursor:
        base["after"] = _cursor_encode(cursor)
        next_url = "?" + base.urlencode()
    return render(request, "phi/report.html", {
        "collection": collection, "rows": rows, "filters": f, "total": total, "next_url": next_url,
        "first_url": "?" + "&".join(f"{k}={v}" for k, v in f.items() if v), "is_first": after is None,
        "vrs": report.vr_choices(collection), "kinds": KINDS, "actions": PhiMark.Action.choices,
        "status": services.signoff_status(collection), "pending": services.pending_marks(collection).count(),
        "running": Correction.objects.filter(collection=collection, kind="phi", state__in=["pending", "running"]).first(),
        "export_url": reverse("curation:phi:export", args=[slug]) + "?" + "&".join(f"{k}={v}" for k, v in f.items() if v),
    })


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
        messages.success(request, f"{n} value(s) marked {request.POST.get('action')}.")
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
        signoff = services.sign_off(collection=collection, actor=request.user, statement=request.POST.get("statement", ""))
        messages.success(request, f"Signed: {signoff.rows} value rows, digest {signoff.digest[:16]}….")
    return redirect("curation:phi:report", slug=slug)


class _Echo:
    def write(self, value):
        return value


@curator_required
def export(request, slug):
    collection = get_object_or_404(Collection, slug=slug)
    _, kw = _filters(request.GET)
    writer = csv.writer(_Echo())
    rows = services.csv_rows(report.filtered(collection, **kw))
    response = StreamingHttpResponse((writer.writerow(r) for r in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{slug}-phi-report.csv"'
    return response
