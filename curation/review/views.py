"""Review queue pages (curators only; anyone else gets a 404): the queue, a collection's series,
the thumbnail grid of a series, the single-image viewer, and the JSON/image endpoints it uses."""
from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Image, Series, Status, StoredFile
from curation.dicom import render as dicom_render
from tcia.core import roles
from tcia.core.permissions import curator_required
from tcia.core.params import MAX_INT, int_param
from tcia.core.redirects import redirect_next

from . import derived, keymap, services
from .gates import gate
from .models import SeriesReview, TextDetection, Verdict

PAGE = 100
IMMUTABLE = "private, max-age=31536000, immutable"


def _curators():
    return (get_user_model().objects.filter(Q(groups__name__in=[roles.CURATOR, roles.ADMIN]) | Q(is_superuser=True))
            .distinct().order_by("username"))


def _findings(series: Series) -> list | None:
    """Findings of the checks app for this series, once that app exists (None: not installed)."""
    try:
        from curation.checks.models import Finding
    except ImportError:
        return None
    try:
        return list(Finding.objects.filter(series=series).exclude(status="fixed").order_by("severity", "pk")[:50])
    except Exception:  # the model may not have a series field yet
        return None


# --- queue and collection pages -----------------------------------------------------------------

@curator_required
def queue(request):
    collections = Collection.objects.filter(Q(status__in=[Status.DRAFT, Status.IN_CURATION]) | Q(series__isnull=False)).distinct()
    rows = []
    for c in collections.order_by("title"):
        p = services.collection_progress(c)
        if p.total:
            rows.append((c, p))
    mine = services.queue().filter(claimed_by=request.user).exclude(lease_expires_at__isnull=True)
    assigned = services.queue().filter(assigned_to=request.user)
    return render(request, "review/queue.html", {"rows": rows, "mine": mine, "assigned": assigned})


@curator_required
def collection(request, slug):
    coll = get_object_or_404(Collection, slug=slug)
    services.ensure_reviews(coll)
    reviews = list(services.queue(coll))
    return render(request, "review/collection.html", {
        "collection": coll, "reviews": reviews, "progress": services.collection_progress(coll),
        "curators": _curators(), "gate": gate(coll),
    })


@curator_required
@require_POST
def claim_next(request, slug):
    coll = get_object_or_404(Collection, slug=slug)
    review = services.claim_next(user=request.user, collection=coll)
    if review is None:
        messages.info(request, "Nothing left to claim in this collection: every series is reviewed, held or assigned.")
        return redirect("curation:review:collection", slug=slug)
    return redirect("curation:review:series", pk=review.series_id)


@curator_required
@require_POST
def release(request, pk):
    series = get_object_or_404(Series, pk=pk)
    services.release(series=series, user=request.user)
    messages.success(request, "Series released.")
    return redirect("curation:review:collection", slug=series.collection.slug)


@curator_required
@require_POST
def assign(request, pk):
    series = get_object_or_404(Series, pk=pk)
    username = request.POST.get("assignee", "")
    assignee = _curators().filter(username=username).first() if username else None
    if username and assignee is None:
        raise Http404("No such curator")
    services.assign(series=series, assignee=assignee, actor=request.user)
    messages.success(request, f"Series {series.series_number or series.pk} assigned to {assignee or 'nobody'}.")
    return redirect_next(request, reverse("curation:review:collection", args=[series.collection.slug]))


@curator_required
@require_POST
def lease(request, pk):
    series = get_object_or_404(Series, pk=pk)
    try:
        review = services.claim(series=series, user=request.user)
    except services.ReviewError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True, "expires": review.lease_expires_at.isoformat()})


def _hold(request, series) -> tuple[SeriesReview, str]:
    """Opening a series claims it when it is free; otherwise the page says who holds it."""
    try:
        return services.claim(series=series, user=request.user), ""
    except services.ReviewError as exc:
        return services.review_for(series), str(exc)


def _context(series: Series):
    coll = series.collection
    return {
        "series": series, "collection": coll, "anatomic_sites": list(coll.anatomic_sites.all()),
        "series_progress": services.series_progress(series), "collection_progress": services.collection_progress(coll),
        "findings": _findings(series),
    }


@curator_required
def series_grid(request, pk):
    series = get_object_or_404(Series.objects.select_related("collection", "subject", "study"), pk=pk)
    review, held_by_other = _hold(request, series)
    images = list(series.images.order_by("instance_number", "pk").values_list("pk", "instance_number", "stored_file__sha256"))
    page = int_param(request, "page", 1, minimum=1)
    pages = max(1, (len(images) + PAGE - 1) // PAGE)
    page = min(page, pages)
    verdicts = dict(Verdict.objects.filter(series=series, current=True).values_list("image_id", "verdict"))
    texts = set(TextDetection.objects.filter(image__series=series).exclude(boxes=[]).values_list("image_id", flat=True))
    cells = [
        {"pk": pk_, "index": i, "n": n, "sha": sha, "verdict": verdicts.get(pk_), "text": pk_ in texts}
        for i, (pk_, n, sha) in enumerate(images) if (page - 1) * PAGE <= i < page * PAGE
    ]
    size, columns = dicom_render.THUMB_SIZE, derived.SHEET_COLUMNS
    for j, c in enumerate(cells):
        c["bg"] = f"-{(j % columns) * size}px -{(j // columns) * size}px"
    sheet_url = reverse("curation:review:sheet", args=[series.pk, page, derived.sheet_key([c["sha"] for c in cells])])
    unreviewed = len(images) - len(verdicts)
    ctx = _context(series)
    ctx.update({"review": review, "held_by_other": held_by_other, "cells": cells, "page": page, "pages": pages,
                "unreviewed": unreviewed, "sheet_url": sheet_url, "curators": _curators(), "verdict_labels": dict(Verdict.Kind.choices),
                "keys": keymap.help_rows()})
    return render(request, "review/series_grid.html", ctx)


@curator_required
@require_POST
def accept_series(request, pk):
    series = get_object_or_404(Series, pk=pk)
    try:
        n = services.accept_series(series=series, actor=request.user, expected=int(request.POST.get("expected", "-1")))
    except (services.ReviewError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{n} images marked OK.")
    return redirect("curation:review:series", pk=pk)


def _image_rows(series: Series) -> list[dict]:
    verdicts = {v.image_id: v for v in Verdict.objects.filter(series=series, current=True)}
    texts = {}
    for t in TextDetection.objects.filter(image__series=series).values("image_id", "stored_file_id", "boxes"):
        texts[(t["image_id"], t["stored_file_id"])] = t["boxes"]
    rows = []
    for im in series.images.order_by("instance_number", "pk").select_related("stored_file"):
        v = verdicts.get(im.pk)
        rows.append({
            "id": im.pk, "n": im.instance_number, "sha": im.stored_file.sha256, "rows": im.rows, "columns": im.columns,
            "frames": im.number_of_frames or 1, "pi": im.photometric_interpretation,
            "colour": im.photometric_interpretation.upper() in dicom_render.COLOUR,
            "verdict": v.verdict if v else None, "note": v.note if v else "",
            "masked": bool(v and v.masked_by_id), "text": texts.get((im.pk, im.stored_file_id), []),
        })
    return rows


def _progress_json(series: Series) -> dict:
    sp, cp = services.series_progress(series), services.collection_progress(series.collection)
    return {"series": str(sp), "collection": str(cp), "series_done": sp.done}


@curator_required
def viewer(request, pk):
    series = get_object_or_404(Series.objects.select_related("collection", "subject", "study"), pk=pk)
    review, held_by_other = _hold(request, series)
    rows = _image_rows(series)
    try:
        index = min(max(0, int(request.GET.get("i", "0"))), max(0, len(rows) - 1))
    except ValueError:
        index = 0
    if "i" not in request.GET:  # start at the first image without a verdict
        index = next((i for i, r in enumerate(rows) if r["verdict"] is None), 0)
    config = {
        "images": rows, "index": index, "keymap": keymap.KEYMAP,
        "presets": {k: {"center": w.center, "width": w.width, "label": w.label} for k, w in dicom_render.PRESETS.items()},
        "verdicts": dict(Verdict.Kind.choices), "scopes": services.SCOPES,
        "urls": {
            "preview": reverse("curation:review:preview", args=["SHA", "WIN", 0]).replace("/0.jpg", "/FRAME.jpg"),
            "full": reverse("curation:review:full", args=["SHA", 0]).replace("/0.bin", "/FRAME.bin"),
            "verdict": reverse("curation:review:verdict", args=[0]).replace("/0/", "/ID/"),
            "mask_preview": reverse("curation:review:mask_preview", args=[0]).replace("/0/", "/ID/"),
            "mask_apply": reverse("curation:review:mask_apply", args=[0]).replace("/0/", "/ID/"),
            "state": reverse("curation:review:state", args=[series.pk]),
            "lease": reverse("curation:review:lease", args=[series.pk]),
            "grid": reverse("curation:review:series", args=[series.pk]),
        },
        "read_only": bool(held_by_other),
    }
    ctx = _context(series)
    ctx.update({"review": review, "held_by_other": held_by_other, "config": config, "keys": keymap.help_rows(),
                "verdict_buttons": [(k, label, keymap.key_for("verdict", k)) for k, label in Verdict.Kind.choices],
                "presets": [(k, w.label, keymap.key_for("window", k)) for k, w in dicom_render.PRESETS.items()],
                "scopes": services.SCOPES})
    return render(request, "review/viewer.html", ctx)


@curator_required
def state(request, pk):
    series = get_object_or_404(Series, pk=pk)
    return JsonResponse({"images": _image_rows(series), "progress": _progress_json(series)})


def _json_body(request) -> dict:
    try:
        return json.loads(request.body or b"{}")
    except ValueError:
        return {}


@curator_required
@require_POST
def verdict(request, pk):
    image = get_object_or_404(Image.objects.select_related("series", "series__collection", "stored_file"), pk=pk)
    body = _json_body(request) if request.content_type == "application/json" else request.POST
    try:
        row = services.record_verdict(image=image, verdict=body.get("verdict", ""), note=body.get("note", ""),
                                      actor=request.user)
    except services.ReviewError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse({"ok": True, "verdict": row.verdict, "id": row.pk, "supersedes": row.supersedes_id,
                         "progress": _progress_json(image.series)})


@curator_required
@require_POST
def mask_preview(request, pk):
    image = get_object_or_404(Image.objects.select_related("series", "stored_file"), pk=pk)
    body = _json_body(request)
    try:
        data = services.mask_preview(image=image, rects=body.get("rects"), frame=int(body.get("frame", 0) or 0),
                                     window=str(body.get("window") or "default"))
    except (services.ReviewError, dicom_render.RenderError) as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    n = services.scope_images(image, body.get("scope", "image")).count() if body.get("scope") in services.SCOPES else 1
    response = HttpResponse(data, content_type="image/jpeg")
    response["X-Scope-Count"] = str(n)
    response["Cache-Control"] = "no-store"
    return response


@curator_required
@require_POST
def mask_apply(request, pk):
    image = get_object_or_404(Image.objects.select_related("series", "series__collection", "stored_file"), pk=pk)
    body = _json_body(request)
    try:
        correction, row = services.apply_mask(
            image=image, rects=body.get("rects"), scope=body.get("scope", "image"), actor=request.user,
            reason=body.get("reason", ""), save_rule=bool(body.get("save_rule")), rule_name=body.get("rule_name", ""))
    except services.ReviewError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    image.refresh_from_db()
    return JsonResponse({"ok": True, "correction": correction.pk, "files": correction.files.count(),
                         "verdict": row.verdict, "sha": image.stored_file.sha256, "progress": _progress_json(image.series)})


# --- image endpoints (content-addressed: the sha256 is the cache key) ------------------------------

def _stored(sha: str) -> StoredFile:
    if not derived.SHA.match(sha):
        raise Http404("bad name")
    stored = StoredFile.objects.filter(sha256=sha).first()
    if stored is None:
        raise Http404("no such file")
    return stored


def _file_or_bytes(name: str):
    path = derived.cached_path(name)
    if path is not None:
        try:
            return FileResponse(open(path, "rb"), content_type="image/jpeg")
        except FileNotFoundError:
            return None
    return None


def _unreadable(message: str) -> HttpResponse:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128"><rect width="128" height="128" fill="#400"/>'
           '<text x="64" y="70" fill="#fcc" font-size="13" text-anchor="middle">unreadable</text></svg>')
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["X-Render-Error"] = message[:200].replace("\n", " ")
    return response


@curator_required
def thumb(request, sha):
    if not derived.SHA.match(sha):
        raise Http404("bad name")
    response = _file_or_bytes(derived.thumb_name(sha))
    if response is None:
        try:
            response = HttpResponse(derived.thumbnail(_stored(sha)), content_type="image/jpeg")
        except dicom_render.RenderError as exc:
            return _unreadable(str(exc))
    response["Cache-Control"] = IMMUTABLE
    return response


@curator_required
def sheet(request, pk, page, key):
    """The contact sheet of one grid page (see derived.contact_sheet)."""
    series = get_object_or_404(Series, pk=pk)
    if not 1 <= page <= MAX_INT:
        raise Http404("no such page")
    name = derived.sheet_name(key) if derived.SHEET_KEY.match(key) else None
    response = _file_or_bytes(name) if name else None
    if response is None:
        stored = [im.stored_file for im in series.images.order_by("instance_number", "pk")
                  .select_related("stored_file")[(page - 1) * PAGE: page * PAGE]]
        if not stored:
            raise Http404("no such page")
        current = derived.sheet_key([s.sha256 for s in stored])
        response = HttpResponse(derived.contact_sheet(stored), content_type="image/jpeg")
        if current != key:  # the page changed since it was rendered: serve the current one, uncached
            response["Cache-Control"] = "no-store"
            return response
    response["Cache-Control"] = IMMUTABLE
    return response


@curator_required
def preview(request, sha, window, frame):
    if window not in dicom_render.WINDOW_NAMES or not derived.SHA.match(sha):
        raise Http404("bad name")
    response = _file_or_bytes(derived.preview_name(sha, window, frame))
    source = "cache"
    if response is None:
        try:
            data, cached = derived.preview(_stored(sha), window, frame)  # on a bucket, the cache is read here
        except dicom_render.RenderError as exc:
            return _unreadable(str(exc))
        response = HttpResponse(data, content_type="image/jpeg")
        source = "cache" if cached else "rendered"
    response["Cache-Control"] = IMMUTABLE
    response["X-Render"] = f"preview JPEG q{dicom_render.JPEG_QUALITY} ({source})"
    return response


@curator_required
def full(request, sha, frame):
    """Full fidelity: float32 modality values for windowing in the browser (monochrome), or a
    lossless PNG (colour)."""
    stored = _stored(sha)
    try:
        ds = derived.read_dataset(stored)
        if dicom_render.is_colour(ds):
            rendered = dicom_render.render(ds, frame=frame)
            response = HttpResponse(dicom_render.encode_png(rendered.image), content_type="image/png")
        else:
            values, info = dicom_render.full_frame(ds, frame)
            response = HttpResponse(values.tobytes(), content_type="application/octet-stream")
            response["X-Image-Info"] = json.dumps(info)
    except dicom_render.RenderError as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=422)
    response["Cache-Control"] = IMMUTABLE
    return response
