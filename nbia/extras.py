"""The v4 extras that are not plain row tables: collection descriptions, DICOM tags of a
series, and `.tcia` manifests (reference §3.2, §6)."""
import json
import time

import pydicom
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape, linebreaks

from collections_app.models import Collection, WikiPage
from collections_app.selectors import series_files

from .context import Ctx
from .queries import ApiError, series_base, series_uid_list


def _json(data) -> HttpResponse:
    if not data:
        return HttpResponse(b"", content_type="application/json; charset=utf-8")
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")
    return HttpResponse(body.encode("utf-8"), content_type="application/json; charset=utf-8")


def get_collection_descriptions(request, ctx: Ctx, params):
    qs = Collection.objects.filter(id__in=list(ctx.collections))
    name = params.get("collectionName")
    if name:
        qs = qs.filter(short_name__iexact=name.strip())
    collections = list(qs.order_by("short_name").only("id", "short_name", "summary", "description", "slug"))
    pages = {
        p.collection_id: p.current.html
        for p in WikiPage.objects.filter(collection__in=collections, slug="overview", current__isnull=False).select_related("current")
    }
    out = []
    for c in collections:
        html = pages.get(c.id) or linebreaks(escape(c.description or c.summary))
        uri = ctx.collections[c.id].doi_url or request.build_absolute_uri(c.get_absolute_url())
        out.append({"description": html, "id": c.id, "collectionName": c.short_name, "descriptionURI": uri})
    return _json(out)


def _tag_rows(dataset, prefix=""):
    rows = []
    for elem in dataset:
        tag = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        name = elem.name
        if elem.VR == "SQ":
            rows.append({"element": tag, "name": name, "data": ""})
            for item in elem.value:
                rows += _tag_rows(item, prefix + ">")
            continue
        if elem.VR in {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}:
            data = f"<{len(elem.value or b'')} bytes>" if isinstance(elem.value, (bytes, bytearray)) else ""
        else:
            value = elem.value
            if isinstance(value, (list, pydicom.multival.MultiValue)):
                data = "\\".join(str(v) for v in value)
            else:
                data = "" if value is None else str(value)
        rows.append({"element": tag, "name": name, "data": data})
    return rows


def get_dicom_tags(request, ctx: Ctx, params):
    uid = params.get("SeriesUID")
    if not uid:
        raise ApiError("A parameter, SeriesUID, is required for this API call.")
    series = series_base(ctx).filter(series_instance_uid=uid.strip()).first()
    if series is None:
        return _json([])
    files = series_files(series)
    if not files:
        return _json([])
    with files[0].stored_file.open() as fh:
        ds = pydicom.dcmread(fh, stop_before_pixels=True)
    rows = []
    if getattr(ds, "file_meta", None):
        rows += _tag_rows(ds.file_meta)
    rows += _tag_rows(ds)
    return _json(rows)


def manifest_response(request, uids: list[str], include_annotation: bool) -> HttpResponse:
    millis = int(time.time() * 1000)
    server = request.build_absolute_uri("/nbia-download/servlet/DownloadServlet")
    lines = [
        f"downloadServerUrl={server}",
        f"includeAnnotation={'true' if include_annotation else 'false'}",
        "noOfrRetry=4",
        f"databasketId=manifest-{millis}.tcia",
        "manifestVersion=3.0",
        "ListOfSeriesToDownload=",
        *uids,
    ]
    response = HttpResponse(("\n".join(lines) + "\n").encode("utf-8"), content_type="application/x-nbia-manifest-file")
    response["Content-Disposition"] = f'attachment; filename="manifest-{millis}.tcia"'
    return response


def _include_annotation(params) -> bool:
    return (params.get("includeAnnotation") or "").strip().lower() in {"true", "yes", "1"}


def get_manifest_text(request, ctx: Ctx, params):
    uids = series_uid_list(params)
    if not uids:
        raise ApiError("A parameter, list, is required for this API call.")
    found = set(series_base(ctx).filter(series_instance_uid__in=uids).values_list("series_instance_uid", flat=True))
    return manifest_response(request, [u for u in uids if u in found], _include_annotation(params))


def get_manifest_for_collection(request, ctx: Ctx, params):
    name = params.get("collection") or params.get("Collection")
    if not name:
        raise ApiError("A parameter, collection, is required for this API call.")
    ids = ctx.ids_named(name)
    uids = list(
        series_base(ctx).filter(collection_id__in=ids).order_by("series_instance_uid").values_list("series_instance_uid", flat=True)
    )
    return manifest_response(request, uids, _include_annotation(params))


def json_error(message, status):
    return JsonResponse({"error": message, "status": status}, status=status)
