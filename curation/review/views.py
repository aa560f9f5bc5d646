"""Review queue pages (curators only; anyone else gets a 404): the queue, a collection's image
classes, a class with its montage (the review task), the drill-down thumbnail grid and
single-image viewer of a series or class, and the JSON/image endpoints they use."""
from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from collections_app.models import Collection, Image, Series, Status, StoredFile
from curation.dicom import render as dicom_render
from tcia.core import roles
from tcia.core.permissions import curator_required
from tcia.core.params import MAX_INT, int_param
from tcia.core.redirects import redirect_next

from . import classes, derived, keymap, services
from .gates import gate
from .models import ImageClass, TextDetection, Verdict

PAGE = 100
CLASS_PAGE = 500  # classes listed on a collection page (the queue is worked with "take next")
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
            rows.append((c, p, services.class_progress(c)))
    now = timezone.now()
    mine = services.queue().filter(claimed_by=request.user, lease_expires_at__gte=now)
    assigned = services.queue().filter(assigned_to=request.user)
    return render(request, "review/queue.html", {"rows": rows, "mine": mine, "assigned": assigned})


@curator_required
def collection(request, slug):
    coll = get_object_or_404(Collection, slug=slug)
    services.ensure_reviews(coll)
    classes = list(services.queue(coll)[:CLASS_PAGE])
    class_progress = services.class_progress(coll)
    return render(request, "review/collection.html", {
        "collection": coll, "classes": classes, "progress": services.collection_progress(coll),
        "class_progress": class_progress, "curators": _curators(), "gate": gate(coll),
        "now": timezone.now(), "more": max(0, class_progress.total - len(classes)),
    })


@curator_required
@require_POST
def claim_next(request, slug):
    coll = get_object_or_404(Collection, slug=slug)
    cls = services.claim_next(user=request.user, collection=coll)
    if cls is None:
        messages.info(request, "Nothing left to take in this collection: every image class is reviewed, held or assigned.")
        return redirect("curation:review:collection", slug=slug)
    return redirect("curation:review:image_class", pk=cls.pk)


def _wants_json(request) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get("Accept", "")


# --- image classes (the review tasks) --------------------------------------------------------------

def _holder_message(cls: ImageClass, user) -> str:
    """Why this curator cannot record verdicts on the class now ('' if they can)."""
    try:
        services._holder_ok(cls, user)
    except services.ReviewError as exc:
        return str(exc)
    return ""


def _class_context(cls: ImageClass, user) -> dict:
    series = cls.series
    coll = series.collection
    now = timezone.now()
    held = bool(cls.claimed_by_id == user.pk and cls.lease_expires_at and cls.lease_expires_at >= now)
    current = cls.verdicts.filter(current=True).select_related("actor").first()
    attributes = [(label, cls.attributes.get(kw, "")) for kw, label in classes.ATTRIBUTES if cls.attributes.get(kw, "")]
    return {
        "cls": cls, "series": series, "collection": coll, "held": held, "held_by_other": _holder_message(cls, user),
        "current": current, "attributes": attributes, "geometry": classes.GEOMETRY_LABELS.get(cls.geometry, cls.geometry),
        "anatomic_sites": list(coll.anatomic_sites.all()), "series_progress": services.series_progress(series),
        "collection_progress": services.collection_progress(coll), "class_progress": services.class_progress(coll),
        "findings": _findings(series),
    }


@curator_required
def image_class(request, pk):
    """One class: its montage (max | mean | min), facts and verdict keys. Opening it takes nothing:
    the curator takes it with a key or a click."""
    cls = get_object_or_404(ImageClass.objects.select_related("series", "series__collection", "series__subject",
                                                              "claimed_by", "assigned_to"), pk=pk)
    ctx = _class_context(cls, request.user)
    config = {
        "keymap": keymap.KEYMAP, "verdicts": dict(Verdict.Kind.choices), "held": ctx["held"],
        "urls": {"take": reverse("curation:review:take", args=[cls.pk]),
                 "verdict": reverse("curation:review:class_verdict", args=[cls.pk]),
                 "drill": reverse("curation:review:viewer", args=[cls.series_id]) + f"?cls={cls.pk}",
                 "collection": reverse("curation:review:collection", args=[ctx["collection"].slug])},
    }
    ctx.update({
        "config": config, "keys": keymap.help_rows(), "curators": _curators(),
        "verdict_buttons": [(k, label, keymap.key_for("verdict", k)) for k, label in Verdict.Kind.choices],
        "take_key": keymap.key_for("take"), "drill_key": keymap.key_for("drill"),
        "montage_url": reverse("curation:review:montage", args=[cls.pk]) + (f"?v={cls.montage_key}" if cls.montage_key else ""),
        "drill_url": config["urls"]["drill"],
        "grid_url": reverse("curation:review:series", args=[cls.series_id]) + f"?cls={cls.pk}",
    })
    return render(request, "review/class.html", ctx)


@curator_required
@require_POST
def take(request, pk):
    cls = get_object_or_404(ImageClass, pk=pk)
    try:
        cls = services.claim(image_class=cls, user=request.user)
    except services.ReviewError as exc:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": str(exc)}, status=409)
        messages.error(request, str(exc))
    else:
        if _wants_json(request):
            return JsonResponse({"ok": True, "expires": cls.lease_expires_at.isoformat()})
        messages.success(request, f"You hold this class until {cls.lease_expires_at:%H:%M} UTC.")
    return redirect("curation:review:image_class", pk=pk)


@curator_required
@require_POST
def class_verdict(request, pk):
    """A verdict on the whole class; with `next`, the next class is taken in the same request
    (the curator's key press is what takes it) and its address returned."""
    cls = get_object_or_404(ImageClass.objects.select_related("series", "series__collection"), pk=pk)
    body = _json_body(request) if request.content_type == "application/json" else request.POST
    try:
        row = services.record_class_verdict(image_class=cls, verdict=str(body.get("verdict", "")),
                                            note=str(body.get("note", "")), actor=request.user)
    except services.ReviewError as exc:
        if not _wants_json(request):
            messages.error(request, str(exc))
            return redirect("curation:review:image_class", pk=pk)
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    coll = cls.series.collection
    out = {"ok": True, "verdict": row.verdict, "images": row.images, "supersedes": row.supersedes_id,
           "progress": {"images": str(services.collection_progress(coll)), "classes": str(services.class_progress(coll))}}
    if body.get("next"):
        nxt = services.claim_next(user=request.user, collection=coll)
        out["next"] = (reverse("curation:review:image_class", args=[nxt.pk]) if nxt
                       else reverse("curation:review:collection", args=[coll.slug]))
    if not _wants_json(request):
        messages.success(request, f"{row.get_verdict_display()} recorded for {row.images} image{'s' if row.images != 1 else ''}.")
        return redirect(out.get("next") or reverse("curation:review:image_class", args=[pk]))
    return JsonResponse(out)


@curator_required
@require_POST
def release(request, pk):
    cls = get_object_or_404(ImageClass.objects.select_related("collection"), pk=pk)
    services.release(image_class=cls, user=request.user)
    messages.success(request, "Class released.")
    return redirect("curation:review:collection", slug=cls.collection.slug)


@curator_required
@require_POST
def assign(request, pk):
    cls = get_object_or_404(ImageClass.objects.select_related("collection"), pk=pk)
    username = request.POST.get("assignee", "")
    assignee = _curators().filter(username=username).first() if username else None
    if username and assignee is None:
        raise Http404("No such curator")
    services.assign(image_class=cls, assignee=assignee, actor=request.user)
    messages.success(request, f"Class {cls.pk} assigned to {assignee or 'nobody'}.")
    return redirect_next(request, reverse("curation:review:collection", args=[cls.collection.slug]))


@curator_required
def montage(request, pk):
    """The class montage (rendered by the task queued at the batch's end; here on demand when missing)."""
    cls = get_object_or_404(ImageClass, pk=pk)
    stored = list(StoredFile.objects.filter(images__review_class__image_class=cls))
    if not stored:
        raise Http404("the class has no images")
    key = derived.montage_key([s.sha256 for s in stored])
    response = _file_or_bytes(derived.montage_name(key))
    if response is None:
        try:
            data, key, _ = derived.montage(stored)
        except dicom_render.RenderError as exc:
            return _unreadable(str(exc))
        if key != cls.montage_key or cls.rendered_count != len(stored):
            ImageClass.objects.filter(pk=cls.pk).update(montage_key=key, rendered_count=len(stored))
        response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-cache"  # the class may gain images; the name is per member set
    return response


# --- drill-down: a series (or one class of it) image by image ----------------------------------------

@curator_required
@require_POST
def lease(request, pk):
    """Renew the leases this curator already holds on classes of the series (the viewer pings
    while open). Nothing is taken here: a page left open never reserves anything by itself."""
    series = get_object_or_404(Series, pk=pk)
    now = timezone.now()
    held = ImageClass.objects.filter(series=series, claimed_by=request.user, lease_expires_at__gte=now)
    n = held.update(lease_expires_at=now + services.LEASE)
    return JsonResponse({"ok": True, "renewed": n})


def _drill_class(request, series) -> ImageClass | None:
    raw = request.GET.get("cls", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("bad class")
    return get_object_or_404(ImageClass.objects.select_related("claimed_by", "assigned_to"), pk=int(raw), series=series)


def _held_message(series, cls, user) -> str:
    """Why verdicts cannot be recorded here: a class of these images held by another curator."""
    targets = [cls] if cls is not None else ImageClass.objects.filter(series=series).select_related("claimed_by", "assigned_to")
    for c in targets:
        msg = _holder_message(c, user)
        if msg:
            return msg
    return ""


def _context(series: Series):
    coll = series.collection
    return {
        "series": series, "collection": coll, "anatomic_sites": list(coll.anatomic_sites.all()),
        "series_progress": services.series_progress(series), "collection_progress": services.collection_progress(coll),
        "findings": _findings(series),
    }


def _series_images(series, cls):
    qs = series.images.all()
    if cls is not None:
        qs = qs.filter(review_class__image_class=cls)
    return qs.order_by("instance_number", "pk")


@curator_required
def series_grid(request, pk):
    series = get_object_or_404(Series.objects.select_related("collection", "subject", "study"), pk=pk)
    cls = _drill_class(request, series)
    held_by_other = _held_message(series, cls, request.user)
    images = list(_series_images(series, cls).values_list("pk", "instance_number", "stored_file__sha256"))
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
    if cls is not None:
        sheet_url += f"?cls={cls.pk}"
    unreviewed = sum(1 for pk_, _, _ in images if pk_ not in verdicts)
    ctx = _context(series)
    ctx.update({"held_by_other": held_by_other, "cells": cells, "page": page, "pages": pages, "cls": cls,
                "cls_query": f"cls={cls.pk}&" if cls else "", "classes": list(services.queue().filter(series=series)),
                "unreviewed": unreviewed, "sheet_url": sheet_url, "verdict_labels": dict(Verdict.Kind.choices),
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
        messages.success(request, f"{n} image{'s' if n != 1 else ''} marked Good.")
    return redirect("curation:review:series", pk=pk)


def _image_rows(series: Series, cls: ImageClass | None = None) -> list[dict]:
    verdicts = {v.image_id: v for v in Verdict.objects.filter(series=series, current=True)}
    texts = {}
    for t in TextDetection.objects.filter(image__series=series).values("image_id", "stored_file_id", "boxes"):
        texts[(t["image_id"], t["stored_file_id"])] = t["boxes"]
    rows = []
    for im in _series_images(series, cls).select_related("stored_file"):
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
    cls = _drill_class(request, series)
    held_by_other = _held_message(series, cls, request.user)
    rows = _image_rows(series, cls)
    try:
        index = min(max(0, int(request.GET.get("i", "0"))), max(0, len(rows) - 1))
    except ValueError:
        index = 0
    if "i" not in request.GET:  # start at the first image without a verdict
        index = next((i for i, r in enumerate(rows) if r["verdict"] is None), 0)
    state_url = reverse("curation:review:state", args=[series.pk]) + (f"?cls={cls.pk}" if cls else "")
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
            "state": state_url,
            "lease": reverse("curation:review:lease", args=[series.pk]),
            "grid": reverse("curation:review:series", args=[series.pk]) + (f"?cls={cls.pk}" if cls else ""),
        },
        "read_only": bool(held_by_other),
    }
    ctx = _context(series)
    ctx.update({"held_by_other": held_by_other, "config": config, "keys": keymap.help_rows(), "cls": cls,
                "verdict_buttons": [(k, label, keymap.key_for("verdict", k)) for k, label in Verdict.Kind.choices],
                "presets": [(k, w.label, keymap.key_for("window", k)) for k, w in dicom_render.PRESETS.items()],
                "scopes": services.SCOPES})
    return render(request, "review/viewer.html", ctx)


@curator_required
def state(request, pk):
    series = get_object_or_404(Series, pk=pk)
    return JsonResponse({"images": _image_rows(series, _drill_class(request, series)), "progress": _progress_json(series)})


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
        stored = [im.stored_file for im in _series_images(series, _drill_class(request, series))
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
