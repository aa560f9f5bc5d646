"""The v4 extras that are not plain row tables: collection descriptions, DICOM tags of a
series, and `.tcia` manifests (reference §3.2, §6)."""
import json
import time

import pydicom
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape, linebreaks

from collections_app.models import Collection, WikiPage
from collections_app.selectors import series_files
from collections_app.services.wiki import sanitize

from .context import Ctx
from .queries import ApiError, required, series_base, series_uid_list, yes_no


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
        p.collection_id: sanitize(p.current.html)  # today's wiki rules, also for older revisions
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


def _doi_key(text: str) -> str:
    """A DOI as stored (lower case, no resolver prefix): "https://doi.org/10.1/X" → "10.1/x"."""
    key = text.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"):
        if key.lower().startswith(prefix):
            key = key[len(prefix):]
            break
    return key.strip().lower()


def _doi_series(record, ctx):
    """(collection ids, [(collection id, SeriesInstanceUID, third party)]) that a DOI names:
    a concept DOI its collection's released series, a version DOI the series frozen in that
    version, a subset DOI its series, an analysis-results DOI its source collections."""
    from collections_app.models import VersionSeries
    from doi.models import DOI, DatasetStatus, SubsetItem

    if record.kind == DOI.Kind.CONCEPT:
        rows = list(series_base(ctx).filter(collection_id=record.collection_id)
                    .values_list("collection_id", "series_instance_uid", "third_party_analysis"))
        return {record.collection_id}, rows
    if record.kind == DOI.Kind.VERSION:
        version = record.version
        if version is None or version.withdrawn_at is not None:
            return set(), []  # a withdrawn version's DOI resolves to its tombstone: no data
        rows = [(version.collection_id, uid, third) for uid, third in VersionSeries.objects.filter(version=version)
                .values_list("series_instance_uid", "third_party_analysis")]
        return {version.collection_id}, rows
    if record.kind == DOI.Kind.SUBSET and record.subset is not None:
        if record.subset.status == DatasetStatus.WITHDRAWN:
            return set(), []
        rows = list(SubsetItem.objects.filter(subset=record.subset)
                    .values_list("series__collection_id", "series__series_instance_uid", "series__third_party_analysis"))
        return {r[0] for r in rows}, rows
    if record.kind == DOI.Kind.DERIVED and record.derived is not None:
        if record.derived.status == DatasetStatus.WITHDRAWN:
            return set(), []
        return set(record.derived.sources.values_list("id", flat=True)), []
    return set(), []


def get_collection_or_series_for_doi(request, ctx: Ctx, params):
    """The collections (CollectionOrSeries empty) or series (CollectionOrSeries=series) a DOI
    names, with NBIA's keys (thirdPartyAnanlysis is spelt as NBIA spells it). Draft DOIs do not
    resolve and collections the caller may not see are left out, as everywhere in this API."""
    from doi.models import DOI
    from doi.selectors import doi_available

    record = (DOI.objects.filter(doi=_doi_key(required(params, "DOI"))).exclude(state=DOI.State.DRAFT)
              .select_related("version", "subset", "derived").first())
    if record is None or not doi_available(record, ctx.user):
        return _json([])
    collection_ids, rows = _doi_series(record, ctx)
    seen = ctx.collections
    collection_ids = sorted((c for c in collection_ids if c in seen), key=lambda c: seen[c].name)
    # Series UIDs are data level: only of collections the caller may read.
    rows = sorted((r for r in rows if r[0] in seen and seen[r[0]].authorized), key=lambda r: (seen[r[0]].name, r[1]))
    derived = record.kind == DOI.Kind.DERIVED
    if (params.get("CollectionOrSeries") or "").strip().lower() == "series":
        return _json([{"collection": seen[cid].name, "seriesInstanceUID": uid, "thirdPartyAnanlysis": yes_no(third),
                       "authorized": seen[cid].authorized} for cid, uid, third in rows])
    third_party = {cid for cid, _uid, third in rows if third}
    # NBIA's JSON drops null values: collection rows have no seriesInstanceUID key
    return _json([{"collection": seen[cid].name, "thirdPartyAnanlysis": yes_no(derived or cid in third_party), "authorized": seen[cid].authorized}
                  for cid in collection_ids])
