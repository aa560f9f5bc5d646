"""The collection page (the archive's facts and wiki with the DOI layer's citation and versions),
and the curators' publish, metadata and withdraw pages.

Public pages are cached by fragment (`{% cache %}`), keyed by the collection's `updated_at`
(moved by every publication, withdrawal, metadata edit and wiki revision), the citation style,
the host and the reader's access class; the view does one query, and the context is lazy, so a
cache hit computes nothing else.
"""
import functools
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_http_methods, require_POST

from collections_app import access
from collections_app.models import Collection, CollectionVersion, VersionSeries
from collections_app.services.publish import PublishBlocked, gate_failures
from doi import cache as doi_cache
from doi import citations
from doi import selectors as doi_selectors
from tcia.core import roles
from tcia.core.permissions import get_visible_or_404, require_curator

from . import forms, metadata, services

CITE_FORMATS = ("bibtex", "ris", "csl-json", "datacite-json", "datacite-xml")


def citation_style(request) -> str:
    style = request.GET.get("style", citations.DEFAULT_STYLE)
    return style if style in citations.STYLES else citations.DEFAULT_STYLE


def access_class(user, collection) -> str:
    """What of a collection page differs between readers: staff links, and data links."""
    if roles.is_curator(user):
        return "staff"
    return "data" if access.can_read_data(user, collection) else "catalogue"


class CollectionPage:
    """The collection page's context, computed only when a fragment is not in the cache."""

    def __init__(self, request, collection: Collection, page_slug: str, style: str):
        self.request, self.collection, self.page_slug, self.style = request, collection, page_slug, style

    @functools.cached_property
    def latest(self):
        return self.collection.latest_version

    @functools.cached_property
    def pages(self):
        return list(self.collection.pages.select_related("current"))

    @functools.cached_property
    def page(self):
        return next((p for p in self.pages if p.slug == self.page_slug), None)

    @functools.cached_property
    def revision(self):
        return self.page.current if self.page else None

    @functools.cached_property
    def versions(self):
        rows = []
        dois = {d.version_id: d for d in doi_selectors.version_dois(self.collection)}
        for v in CollectionVersion.objects.filter(collection=self.collection).order_by("-number"):
            rows.append({
                "version": v, "doi": dois.get(v.pk), "latest": self.latest is not None and v.pk == self.latest.pk,
                "zip": reverse("data_version_zip", args=[v.pk]), "manifest": reverse("data_version_manifest", args=[v.pk]),
                "digest": reverse("data_version_digest", args=[v.pk]),
                "digest_series": reverse("data_version_digest_series", args=[v.pk]),
            })
        return rows

    @functools.cached_property
    def cite_doi(self):
        """The DOI to cite the latest version with (its own, or the concept DOI for a minor one)."""
        if self.latest is None:
            return None
        d = doi_selectors.citable_doi_for_version(self.latest)
        return d if d is not None and d.state != "draft" else None

    @functools.cached_property
    def concept(self):
        d = doi_selectors.concept_doi(self.collection)
        return d if d is not None and d.state != "draft" else None

    @functools.cached_property
    def citation(self):
        return doi_cache.citation(self.cite_doi, self.style) if self.cite_doi else ("", "")

    @property
    def citation_html(self):
        return self.citation[0]

    @property
    def citation_text(self):
        return self.citation[1]

    @property
    def styles(self):
        return [(k, label) for k, (_, label) in citations.STYLES.items()]

    @property
    def exports(self):
        d = self.cite_doi
        return [(fmt, reverse("doi:export", args=[fmt, d.doi])) for fmt in CITE_FORMATS] if d else []

    @functools.cached_property
    def chart(self):
        if self.latest is None:
            return []
        from django.db.models import Sum

        rows = (VersionSeries.objects.filter(version=self.latest).values("modality")
                .annotate(images=Sum("image_count")).order_by("-images", "modality"))
        per = [(r["modality"] or "?", r["images"] or 0) for r in rows]
        peak = max((n for _, n in per), default=0) or 1
        return [{"modality": m, "images": n, "percent": round(100 * n / peak, 1)} for m, n in per]

    @functools.cached_property
    def supporting(self):
        """Analysis results and subsets published from this collection (TCIA's supporting data)."""
        return doi_selectors.dois_pointing_to(self.collection)

    @property
    def has_supporting(self):
        return bool(self.supporting["derived"] or self.supporting["subsets"])

    @functools.cached_property
    def modalities(self):
        return [m.code for m in self.collection.modalities.all()]

    @functools.cached_property
    def sites(self):
        return [s.name for s in self.collection.anatomic_sites.all()]

    @functools.cached_property
    def keywords(self):
        rec = doi_cache.record(self.cite_doi) if self.cite_doi else {}
        return [s["subject"] for s in rec.get("subjects", [])]

    @functools.cached_property
    def creators(self):
        rec = doi_cache.record(self.cite_doi) if self.cite_doi else {}
        return rec.get("creators", [])


def catalogue(request):
    """/: the catalogue. Facet links and the sort select apply at once; the URL names only the
    filters in force (anything else redirects to that clean URL)."""
    from django.db.models import Count, Max
    from django.utils.functional import SimpleLazyObject

    from .catalogue import Catalogue, clean_params, query_string

    params = clean_params(request.GET)
    canonical = query_string(params)
    if request.GET and request.get_full_path() != request.path + canonical:
        return redirect(request.path + canonical)
    stamp = Collection.objects.visible_to(request.user).aggregate(m=Max("updated_at"), n=Count("id"))
    c = Catalogue(request.user, params)
    return render(request, "publication/catalogue.html", {
        "c": c, "collections": SimpleLazyObject(lambda: c.results), "total": SimpleLazyObject(lambda: c.total),
        "key": f"{stamp['n']}:{stamp['m'].timestamp() if stamp['m'] else 0}:{canonical}:{roles.is_curator(request.user)}",
    })


def _page_slugs(collection) -> set[str]:
    key = f"collection-pages:{collection.pk}:{collection.updated_at.timestamp():.6f}"
    return cache.get_or_set(key, lambda: set(collection.pages.values_list("slug", flat=True)), 3600)


def collection_detail(request, slug, page_slug="overview"):
    # The few columns the cache key needs; the whole collection is read only for a cache miss.
    collection = get_visible_or_404(
        Collection.objects.only("pk", "slug", "status", "access", "updated_at", "data_use_agreement"),
        request.user, slug=slug)
    if page_slug != "overview" and page_slug not in _page_slugs(collection):
        raise Http404("No such page")
    style = citation_style(request)
    full = SimpleLazyObject(lambda: Collection.objects.select_related("latest_version").get(pk=collection.pk))
    context = {
        "collection": full, "p": CollectionPage(request, full, page_slug, style), "style": style,
        "page_slug": page_slug, "access_class": access_class(request.user, collection), "key_pk": collection.pk,
        "stamp": f"{collection.updated_at.timestamp():.6f}", "host": request.get_host(),
        "can_edit": roles.is_curator(request.user),
    }
    return render(request, "publication/collection_detail.html", context)


# Curators: publish, metadata, withdraw -------------------------------------------------------------


def _preview_landing(request):
    from django.template.loader import render_to_string

    from doi.views import landing_context

    def show(doi):
        ctx = landing_context(request, doi, preview=True)
        return render_to_string("doi/_landing_main.html", ctx, request=request)

    return show


def _draft(collection):
    from .models import PublicationDraft

    return PublicationDraft.objects.filter(collection=collection).first()


@login_required
@require_http_methods(["GET", "POST"])
def publish_page(request, slug):
    """Enter the publication metadata, preview the landing page and the DataCite JSON, confirm."""
    require_curator(request.user)
    collection = get_object_or_404(Collection, slug=slug)
    preview = None
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action == "confirm":  # publish exactly the draft that was previewed
            draft = _draft(collection)
            if draft is None or request.POST.get("digest") != draft.digest:
                messages.error(request, "The metadata changed since the preview; preview it again before publishing.")
                return redirect("data_publish", slug=slug)
            try:
                version = services.publish(collection, draft.data, major=draft.major, actor=request.user)
            except PublishBlocked as blocked:
                messages.error(request, "Not published: " + "; ".join(f.message for f in blocked.failures))
                return redirect("data_publish", slug=slug)
            return redirect("publication_done", slug=slug, number=version.number)
        form, sets = forms.build(request.POST)
        data, major = forms.parse(form, sets)
        if data is not None:
            draft = services.save_draft(collection, data, major=major, actor=request.user)
            if action == "update":
                try:
                    services.update_metadata(collection, draft.data, actor=request.user)
                except PublishBlocked as blocked:
                    messages.error(request, "Not updated: " + "; ".join(f.message for f in blocked.failures))
                else:
                    messages.success(request, "Publication metadata updated; the registered DOIs were sent again.")
                return redirect("data_publish", slug=slug)
            if action != "preview":
                messages.success(request, "Draft saved. Nothing public changes until you publish.")
                return redirect("data_publish", slug=slug)
            preview = services.preview(Collection.objects.get(pk=collection.pk), draft.data, major=draft.major,
                                       show_landing=_preview_landing(request))
            form, sets = forms.build(initial=draft.data, major=draft.major)
    else:
        initial, major = services.draft_or_initial(collection)
        form, sets = forms.build(initial=initial, major=major)
    draft = _draft(collection)
    data = draft.data if draft else metadata.initial(collection)
    return render(request, "publication/publish.html", {
        "collection": collection, "form": form, "sets": sets, "problems": services.problems(collection, data),
        "failures": gate_failures(collection), "draft": draft, "preview": preview,
        "preview_json": json.dumps(preview.record, indent=2, ensure_ascii=False) if preview else "",
        "versions": doi_selectors.published_versions(collection).select_related("doi_record"),
    })


@login_required
def published(request, slug, number):
    require_curator(request.user)
    version = get_object_or_404(CollectionVersion.objects.select_related("collection"), collection__slug=slug, number=number)
    return render(request, "publication/published.html", {
        "version": version, "collection": version.collection,
        "doi": doi_selectors.citable_doi_for_version(version), "concept": doi_selectors.concept_doi(version.collection),
    })


@login_required
@require_POST
def withdraw_version(request, slug, number):
    require_curator(request.user)
    version = get_object_or_404(CollectionVersion, collection__slug=slug, number=number)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "Give a reason for withdrawing the version.")
        return redirect(reverse("data_publish", args=[slug]))
    services.withdraw(version, actor=request.user, reason=reason)
    messages.success(request, f"Version {number} withdrawn.")
    return redirect(reverse("data_publish", args=[slug]))
