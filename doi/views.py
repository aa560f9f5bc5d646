"""The DOI resolver and landing pages, export URLs, subset requests and curator decisions,
analysis results.

GET /doi/<doi> answers by content negotiation (Accept header, DataCite's content resolver
types); /doi/export/<format>/<doi> gives the same answers as links for browsers. A withdrawn
DOI's HTML is a 410 tombstone that keeps the citation; its metadata stays available.
"""
import functools
import hashlib
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import content_disposition_header, http_date, quote_etag
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from collections_app import access, views_data
from collections_app.services import downloads
from collections_app.services.storage import store_bytes
from tcia.core import roles
from tcia.core.permissions import require_curator

from . import cache as doi_cache
from . import citations, metadata, selectors, services
from .models import DOI, DatasetStatus, DerivedDataset, Subset

FORMATS = {
    # key: (media type, file extension)
    "datacite-json": ("application/vnd.datacite.datacite+json", "json"),
    "datacite-xml": ("application/vnd.datacite.datacite+xml", "xml"),
    "csl-json": ("application/vnd.citationstyles.csl+json", "json"),
    "bibtex": ("application/x-bibtex", "bib"),
    "ris": ("application/x-research-info-systems", "ris"),
    "citation": ("text/x-bibliography", "txt"),
    "schemaorg": ("application/ld+json", "jsonld"),
}
MEDIA_TO_FORMAT = {media: key for key, (media, _) in FORMATS.items()}
MEDIA_TO_FORMAT["application/vnd.schemaorg.ld+json"] = "schemaorg"
MEDIA_TO_FORMAT["text/html"] = "html"
MEDIA_TO_FORMAT["application/xhtml+xml"] = "html"


def negotiate(accept: str) -> tuple[str | None, dict]:
    """The best format for an Accept header and the chosen type's parameters (e.g. style=)."""
    if not accept.strip():
        return "html", {}
    from tcia.core.mediatypes import media_ranges

    for media, params in media_ranges(accept):
        if media in MEDIA_TO_FORMAT:
            return MEDIA_TO_FORMAT[media], params
        if media in ("*/*", "text/*", "application/*"):
            return "html", params
    return None, {}


def _resolve_or_404(request, doi_str: str, *, light: bool = False) -> DOI:
    doi = selectors.resolve_for_key(doi_str) if light else selectors.resolve(doi_str)
    if doi is None:
        raise Http404("Unknown DOI")
    if doi.state == DOI.State.DRAFT and not roles.is_curator(request.user):
        raise Http404("Unknown DOI")  # drafts do not resolve
    return doi


def unavailable(request, doi: DOI, *, html: bool) -> HttpResponse | None:
    """A DOI that was findable but whose collection is not public now (back in curation) answers
    410 with its title and citation only: no figures, subjects, series or downloads."""
    if selectors.doi_available(doi, request.user):
        return None
    if not html:
        return HttpResponse("This dataset is not available at present.\n", status=410, content_type="text/plain")
    record = metadata.build(doi)
    style = citations.DEFAULT_STYLE
    response = render(request, "doi/unavailable.html", {
        "doi": doi, "title": record["titles"][0]["title"], "creators": record["creators"], "style": style,
        "citation_html": citations.formatted_html(record, style),
        "citation_text": citations.formatted(record, style),
    }, status=410)
    response["Link"] = f'<{doi.https}>; rel="cite-as"'
    return response


def is_withdrawn(doi: DOI) -> bool:
    if doi.kind == DOI.Kind.VERSION:
        return doi.version.withdrawn_at is not None
    if doi.kind == DOI.Kind.CONCEPT:
        return doi.collection.latest_version_id is None and selectors.published_versions(doi.collection).exists()
    obj = doi.subset if doi.kind == DOI.Kind.SUBSET else doi.derived
    return obj.status == DatasetStatus.WITHDRAWN


def landing_url(request, doi: DOI) -> str:
    return request.build_absolute_uri(f"/doi/{doi.doi}")


def export_url(request, doi: DOI, fmt: str) -> str:
    return request.build_absolute_uri(reverse("doi:export", args=[fmt, doi.doi]))


def render_format(request, doi: DOI, fmt: str, params: dict | None = None, *, attachment=False) -> HttpResponse:
    record = metadata.build(doi)
    media, ext = FORMATS[fmt]
    params = params or {}
    if fmt == "datacite-json":
        body = json.dumps(record, indent=2, ensure_ascii=False)
    elif fmt == "datacite-xml":
        body = metadata.to_xml(record)
    elif fmt == "csl-json":
        body = json.dumps(citations.csl_json(record), indent=2, ensure_ascii=False)
    elif fmt == "bibtex":
        body = citations.bibtex(record)
    elif fmt == "ris":
        body = citations.ris(record)
    elif fmt == "citation":
        style = request.GET.get("style") or params.get("style") or citations.DEFAULT_STYLE
        body = citations.formatted(record, style) + "\n"
    elif fmt == "schemaorg":
        body = json.dumps(schema_org(request, doi, record), indent=2, ensure_ascii=False)
    else:
        raise Http404("Unknown format")
    response = HttpResponse(body, content_type=f"{media}; charset=utf-8")
    response["Vary"] = "Accept"
    if attachment:
        safe = doi.doi.replace("/", "_")
        response["Content-Disposition"] = content_disposition_header(True, f"{safe}.{ext}")
    return response


def resolver(request, doi):
    fmt, params = negotiate(request.headers.get("Accept", ""))
    if request.GET.get("format") in FORMATS:
        fmt = request.GET["format"]
    if fmt == "html":
        light = _resolve_or_404(request, doi, light=True)
        if selectors.doi_available(light, request.user) and not is_withdrawn(light):
            return landing(request, light)
    doi = _resolve_or_404(request, doi)
    if fmt is None:
        response = HttpResponse("Not acceptable. Offered: text/html, " + ", ".join(m for m, _ in FORMATS.values()) + "\n",
                                status=406, content_type="text/plain")
        response["Vary"] = "Accept"
        return response
    gone = unavailable(request, doi, html=fmt == "html")
    if gone is not None:
        return gone
    if fmt != "html":
        return render_format(request, doi, fmt, params)
    return landing(request, doi)


def export(request, fmt, doi):
    doi = _resolve_or_404(request, doi)
    if fmt not in FORMATS:
        raise Http404("Unknown format")
    gone = unavailable(request, doi, html=False)
    if gone is not None:
        return gone
    return render_format(request, doi, fmt, attachment=request.GET.get("download") == "1")


# Landing pages --------------------------------------------------------------------------------


def schema_org(request, doi: DOI, record: dict, downloads_list=None) -> dict:
    creators = []
    for c in record.get("creators", []):
        person = c.get("nameType") == "Personal"
        entry = {"@type": "Person" if person else "Organization", "name": c.get("name", "")}
        if person:
            entry.update({"givenName": c.get("givenName", ""), "familyName": c.get("familyName", "")})
        ids = [i["nameIdentifier"] for i in c.get("nameIdentifiers", [])]
        if ids:
            entry["sameAs"] = ids[0]
        creators.append(entry)
    descriptions = record.get("descriptions", [])
    abstract = next((d["description"] for d in descriptions if d["descriptionType"] == "Abstract"), "")
    rights = (record.get("rightsList") or [{}])[0]
    out = {
        "@context": "https://schema.org",
        "@type": "Dataset",
        "@id": doi.https,
        "identifier": doi.https,
        "url": landing_url(request, doi),
        "name": record["titles"][0]["title"],
        "description": abstract or record["titles"][0]["title"],
        "creator": creators,
        "publisher": {"@type": "Organization", "name": record["publisher"]["name"]},
        "datePublished": record.get("publicationYear"),
        "keywords": [s["subject"] for s in record.get("subjects", [])],
        "includedInDataCatalog": {"@type": "DataCatalog", "name": record["publisher"]["name"]},
        "citation": citations.formatted(record, "apa"),
    }
    if record.get("version"):
        out["version"] = record["version"]
    if rights.get("rightsUri"):
        out["license"] = rights["rightsUri"]
    alt = record.get("alternateIdentifiers")
    if alt:
        out["alternateName"] = alt[0]["alternateIdentifier"]
    for key, relation in (("isBasedOn", "IsDerivedFrom"), ("isPartOf", "IsPartOf"), ("hasPart", "HasPart")):
        targets = [f"https://doi.org/{r['relatedIdentifier']}" for r in record.get("relatedIdentifiers", []) if r["relationType"] == relation]
        if targets:
            out[key] = targets
    mods = [s["subject"] for s in record.get("subjects", []) if s["subject"].isupper() and len(s["subject"]) <= 8]
    if mods:
        out["measurementTechnique"] = mods
    if downloads_list:
        out["distribution"] = [
            {"@type": "DataDownload", "contentUrl": request.build_absolute_uri(url), "encodingFormat": fmt}
            for url, fmt in downloads_list
        ]
    return out


def _jsonld(data: dict) -> str:
    text = json.dumps(data, ensure_ascii=False)
    # safe: JSON inside <script type="application/ld+json">; with <, > and & escaped no value
    # can close the element or open markup.
    return mark_safe(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _version_rows(collection, current_version):
    rows = []
    dois = {d.version_id: d for d in selectors.version_dois(collection)}
    for v in selectors.published_versions(collection):
        vd = dois.get(v.pk)
        rows.append({
            "version": v, "doi": vd, "current": current_version is not None and v.pk == current_version.pk,
            "latest": v.pk == collection.latest_version_id,
            "zip": reverse("data_version_zip", args=[v.pk]), "manifest": reverse("data_version_manifest", args=[v.pk]),
            "digest": reverse("data_version_digest", args=[v.pk]), "digest_series": reverse("data_version_digest_series", args=[v.pk]),
        })
    return rows


def landing_context(request, doi: DOI, *, preview: bool = False) -> dict:
    """Everything the landing page shows. `preview`: the page as publishing would make it (the
    publish page renders it inside a rolled-back rehearsal, so nothing is read from caches)."""
    record = metadata.build(doi) if preview else doi_cache.record(doi)
    style = request.GET.get("style", citations.DEFAULT_STYLE)
    if style not in citations.STYLES:
        style = citations.DEFAULT_STYLE
    if preview:
        cited = citations.formatted_html(record, style), citations.formatted(record, style)
    else:
        cited = doi_cache.citation(doi, style)
    ctx = {
        "doi": doi, "record": record, "title": record["titles"][0]["title"], "preview": preview,
        "creators": record["creators"], "style": style, "styles": [(k, label) for k, (_, label) in citations.STYLES.items()],
        "citation_html": cited[0], "citation_text": cited[1],
        "keywords": [sub["subject"] for sub in record.get("subjects", [])],
        "contributors": record.get("contributors", []), "funding": record.get("fundingReferences", []),
        "exports": [(key, FORMATS[key][0], reverse("doi:export", args=[key, doi.doi])) for key in FORMATS],
        "abstract": next((d["description"] for d in record.get("descriptions", []) if d["descriptionType"] == "Abstract"), ""),
        "rights": (record.get("rightsList") or [{}])[0],
        "withdrawn": is_withdrawn(doi),
        "related": record.get("relatedIdentifiers", []),
        "year": record.get("publicationYear"),
        "issued": next((d["date"] for d in record.get("dates", []) if d["dateType"] == "Issued"), ""),
    }
    downloads_list = []
    if doi.kind in (DOI.Kind.CONCEPT, DOI.Kind.VERSION):
        collection = doi.collection or doi.version.collection
        latest = collection.latest_version
        version = doi.version if doi.kind == DOI.Kind.VERSION else latest
        ctx.update({
            "collection": collection, "version": version, "latest": latest,
            "newer": latest if (version and latest and latest.number > version.number) else None,
            "concept": selectors.concept_doi(collection),
            "facts": selectors.version_facts(version) if version else {},
            "versions": _version_rows(collection, version),
            "publications": collection.related_publications.all(),
            "can_download": access.can_download(request.user, collection),
            "limited": collection.access == "limited",
            "description": collection.description,
            "derived": selectors.dois_pointing_to(collection),
        })
        if version:
            downloads_list = [(reverse("data_version_zip", args=[version.pk]), "application/zip"),
                              (reverse("data_version_digest", args=[version.pk]), "text/csv")]
    elif doi.kind == DOI.Kind.SUBSET:
        subset = doi.subset
        ctx.update({
            "subset": subset, "facts": selectors.subset_facts(subset), "description": subset.description,
            # Subject IDs and series UIDs are data level: items of a limited collection only for
            # users who accepted its agreement.
            "items": subset.items.filter(series__collection__in=access.data_collections(request.user))
            .select_related("series__collection", "series__subject", "version"),
            "can_download": all(access.can_download(request.user, c) for c in {i.series.collection for i in subset.items.select_related("series__collection")}),
        })
        downloads_list = [(reverse("data_subset_zip", args=[subset.pk]), "application/zip")]
    else:
        dataset = doi.derived
        ctx.update({
            "derived_dataset": dataset, "facts": selectors.derived_facts(dataset), "description": dataset.description,
            "files": dataset.files.select_related("stored_file"),
            "sources": [(s, selectors.concept_doi(s)) for s in selectors.visible_sources(dataset, request.user)],
            "can_download": True,
        })
        downloads_list = [(reverse("doi:derived_file", args=[dataset.slug, f.name]), "application/octet-stream") for f in dataset.files.all()]
    ctx["downloads"] = downloads_list
    ctx["jsonld"] = _jsonld(schema_org(request, doi, record, downloads_list))
    return ctx


def signposting(request, doi: DOI, ctx: dict) -> str:
    links = [
        f'<{doi.https}>; rel="cite-as"',
        f'<{export_url(request, doi, "datacite-json")}>; rel="describedby"; type="{FORMATS["datacite-json"][0]}"',
        f'<{export_url(request, doi, "datacite-xml")}>; rel="describedby"; type="{FORMATS["datacite-xml"][0]}"',
        f'<{export_url(request, doi, "schemaorg")}>; rel="describedby"; type="application/ld+json"',
        '<https://schema.org/Dataset>; rel="type"',
        '<https://schema.org/AboutPage>; rel="type"',
    ]
    if ctx["rights"].get("rightsUri"):
        links.append(f'<{ctx["rights"]["rightsUri"]}>; rel="license"')
    if not ctx["withdrawn"]:
        for url, media in ctx["downloads"]:
            links.append(f'<{request.build_absolute_uri(url)}>; rel="item"; type="{media}"')
    return ", ".join(links)


class LazyLanding:
    """The landing page's context, built only when a cached fragment of the page is missing."""

    def __init__(self, request, doi):
        self.request, self.doi = request, doi

    @functools.cached_property
    def ctx(self) -> dict:
        return landing_context(self.request, selectors.resolve(self.doi.doi))


def landing_key(request, doi: DOI) -> str:
    """What a landing page's cached fragments and ETag depend on: the DOI and its collection's
    stamps, the citation style, the address it is served at and what the reader may do."""
    collection = doi.collection or (doi.version.collection if doi.version_id else None)
    style = request.GET.get("style", citations.DEFAULT_STYLE)
    if collection is not None:
        reader = "staff" if roles.is_curator(request.user) else (
            "data" if access.can_read_data(request.user, collection) else "catalogue")
    else:
        reader = "staff" if roles.is_curator(request.user) else "any"
    from dicomweb import viewer

    return ":".join([doi_cache.stamp(doi), style if style in citations.STYLES else citations.DEFAULT_STYLE,
                     request.scheme, request.get_host(), reader, "ohif" if viewer.installed() else ""])


def landing(request, doi: DOI):
    withdrawn = is_withdrawn(doi)
    if withdrawn:
        ctx = landing_context(request, doi)
        response = render(request, "doi/tombstone.html", ctx, status=410)
        response["Link"] = signposting(request, doi, ctx)
        response["Vary"] = "Accept"
        return response
    key = landing_key(request, doi)
    etag = quote_etag(hashlib.sha256(key.encode()).hexdigest()[:32])
    collection = doi.collection or (doi.version.collection if doi.version_id else None)
    modified = max([doi.updated_at] + ([collection.updated_at] if collection is not None else []))
    response = get_conditional_response(request, etag=etag, last_modified=int(modified.timestamp()))
    if response is None:
        lazy = LazyLanding(request, doi)
        response = render(request, "doi/landing.html", {"L": lazy, "key": key, "doi": doi})
        response["Link"] = cache.get_or_set(f"landing-link:{key}", lambda: signposting(request, doi, lazy.ctx), 86400)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified.timestamp())
    patch_vary_headers(response, ["Accept", "Cookie"])
    return response


# Subsets --------------------------------------------------------------------------------------


@login_required
@require_POST
def subset_request(request):
    from collections_app.views_data import CART_KEY

    ids = [int(i) for i in request.session.get(CART_KEY, [])]
    try:
        subset = services.request_subset(user=request.user, title=request.POST.get("title", ""),
                                         description=request.POST.get("description", ""), series_ids=ids)
    except services.SubsetError as exc:
        messages.error(request, str(exc))
        return redirect("data_cart")
    messages.success(request, "Your request was sent to the curators.")
    return redirect("doi:subset_detail", pk=subset.pk)


@login_required
def subset_detail(request, pk):
    subset = get_object_or_404(Subset, pk=pk)
    if subset.requested_by_id != request.user.pk and not roles.is_curator(request.user):
        raise Http404("Not found")
    doi = DOI.objects.filter(subset=subset).first()
    # The requester sees the series of collections they may still read (not of one back in curation).
    items = subset.items.filter(series__collection__in=access.data_collections(request.user))
    return render(request, "doi/subset_detail.html", {
        "subset": subset, "doi": doi, "items": items.select_related("series__collection", "series__subject", "version"),
        "withheld": subset.items.count() - items.count(),
        "is_curator": roles.is_curator(request.user),
    })


@login_required
def subset_queue(request):
    require_curator(request.user)
    return render(request, "doi/subset_queue.html", {
        "open": Subset.objects.filter(status=DatasetStatus.REQUESTED).select_related("requested_by"),
        "decided": Subset.objects.exclude(status=DatasetStatus.REQUESTED).select_related("requested_by")[:50],
    })


@login_required
@require_POST
def subset_decide(request, pk):
    require_curator(request.user)
    subset = get_object_or_404(Subset, pk=pk)
    note = request.POST.get("note", "")
    try:
        if request.POST.get("decision") == "approve":
            doi = services.approve_subset(subset, actor=request.user, note=note)
            messages.success(request, f"Approved: {doi.doi}")
            return redirect(doi.get_absolute_url())
        services.reject_subset(subset, actor=request.user, note=note)
        messages.success(request, "Request rejected.")
    except services.SubsetError as exc:
        messages.error(request, str(exc))
    return redirect("doi:subset_queue")


# Subset downloads (/downloads/subsets/…, doi/download_urls.py) -------------------------------


def _published_subset_or_404(request, pk):
    """A published subset all of whose collections the user may see (else a 404: a subset of a
    collection back in curation names nothing to the public)."""
    subset = get_object_or_404(Subset, pk=pk, status=DatasetStatus.PUBLISHED)
    if not selectors.subset_visible(subset, request.user):
        raise Http404("No such subset.")
    return subset


def subset_zip(request, pk):
    subset = _published_subset_or_404(request, pk)
    selection = downloads.subset_selection(subset)
    refused = views_data._download_check(request, {p.series.collection for p in selection})
    if refused:
        return refused
    return views_data.zip_response(downloads.build_package(selection, name=f"subset-{subset.pk}", when=subset.decided_at))


def subset_manifest(request, pk):
    subset = _published_subset_or_404(request, pk)
    selection = downloads.subset_selection(subset)
    refused = views_data._download_check(request, {p.series.collection for p in selection})
    if refused:
        return refused
    return views_data.manifest_response(request, selection, f"subset-{subset.pk}", when=subset.decided_at)



# Analysis results -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def derived_new(request):
    require_curator(request.user)
    from collections_app.models import Collection

    collections = Collection.objects.public().order_by("title")
    if request.method == "POST":
        files = [(f.name, store_bytes(f.read(), content_type=f.content_type or "application/octet-stream"), "")
                 for f in request.FILES.getlist("files")]
        creators = []
        for line in request.POST.get("creators", "").splitlines():
            family, _, given = line.partition(",")
            if family.strip():
                creators.append({"family": family.strip(), "given": given.strip(), "name_type": "Personal" if given.strip() else "Organizational"})
        try:
            dataset = services.create_derived(
                actor=request.user, slug=request.POST["slug"], title=request.POST["title"], summary=request.POST.get("summary", ""),
                description=request.POST.get("description", ""), result_type=request.POST.get("result_type") or "Analysis Results",
                sources=list(collections.filter(pk__in=request.POST.getlist("sources"))), files=files, creators=creators,
            )
            doi = services.publish_derived(dataset, actor=request.user) if request.POST.get("publish") else None
        except (KeyError, ValueError, services.SubsetError) as exc:
            messages.error(request, f"Not saved: {exc}")
        else:
            if doi:
                return redirect(doi.get_absolute_url())
            messages.success(request, "Saved as a draft.")
            return redirect("doi:derived_new")
    return render(request, "doi/derived_form.html", {"collections": collections,
                                                     "drafts": DerivedDataset.objects.filter(status=DatasetStatus.DRAFT)})


def derived_file(request, slug, name):
    dataset = get_object_or_404(DerivedDataset, slug=slug)
    if dataset.status != DatasetStatus.PUBLISHED and not roles.is_curator(request.user):
        raise Http404("Not found")
    f = get_object_or_404(dataset.files.select_related("stored_file"), name=name)
    return views_data.stored_file_response(request, f.stored_file, name)


LIST_FORMATS = {"application/json": "json", "text/html": "html", "application/xhtml+xml": "html"}


def doi_list(request):
    """The findable DOIs: an HTML list for people, JSON for harvesters (Accept: application/json,
    or ?format=json; a request without an Accept header also gets JSON, as it always did).
    Landing URLs use the site's public URL (TCIA_SITE_URL) or else this request's address."""
    from tcia.core.mediatypes import media_ranges
    from tcia.core.site import site_url

    fmt = request.GET.get("format")
    if fmt not in ("json", "html"):
        accept = request.headers.get("Accept", "").strip()
        fmt = "json"
        if accept:
            fmt = "html"
            for media, _ in media_ranges(accept):
                if media in LIST_FORMATS:
                    fmt = LIST_FORMATS[media]
                    break
                if media in ("*/*", "text/*"):
                    break
    base = site_url(request)
    qs = (selectors.findable_dois(request.user).exclude(state=DOI.State.DRAFT).order_by("doi")
          .select_related("collection", "version__collection", "subset", "derived"))
    rows = [{"doi": d.doi, "kind": d.kind, "state": d.state, "url": f"{base}/doi/{d.doi}"} for d in qs]
    if fmt == "json":
        response = JsonResponse({"dois": rows})
    else:
        for d, row in zip(qs, rows):
            row["title"] = (d.collection.title if d.collection_id else d.version.collection.title if d.version_id
                            else d.subset.title if d.subset_id else d.derived.title if d.derived_id else d.doi)
            row["kind_label"] = d.get_kind_display()
            row["version"] = d.version.number if d.version_id else None
        response = render(request, "doi/doi_list.html", {"rows": rows})
    patch_vary_headers(response, ["Accept"])
    return response
