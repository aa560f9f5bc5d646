"""The access matrix: for every URL pattern of the portal, what each role gets from a GET.

`EXPECT` is keyed by URL name (`namespace:name`, as `reverse` takes it). Each entry is a list
of probes; a probe names the object it is about, builds the URL's arguments from the test
world (tests/security/world.py) and gives the status each role must get, in ROLES order:

    anonymous  submitter  committee  agreed  curator  admin

(`agreed` is a logged-in user who accepted the limited collection's data use agreement.)
Write a row as six codes ("302 404 404 404 200 200") or with a shorthand below.

Besides the status, every response to a role without the right is searched for the hidden
and incoming collections' subject IDs and UIDs (and, for the limited collection, by anyone who
has not accepted its agreement): see test_access_matrix.py.

Adding a URL pattern: add an entry here, or the coverage test fails. docs/security.md says more.
"""
from dataclasses import dataclass, field
from typing import Callable

from tests.security.world import ROLES, World

ALL_200 = "200 200 200 200 200 200"
STAFF = "404 404 404 404 200 200"            # curator_required: a 404 to everyone else
STAFF_POST = "404 404 404 404 405 405"       # curator_required + require_POST, probed with GET
LOGIN_STAFF = "302 404 404 404 200 200"      # login_required, then require_curator
LOGIN_STAFF_POST = "302 404 404 404 405 405"
DATA = "403 403 403 200 200 200"             # limited data: login and the agreement
HIDDEN = "404 404 404 404 200 200"           # not public: only staff
POST_ONLY = "405 405 405 405 405 405"


@dataclass
class Probe:
    label: str
    kwargs: Callable[[World], dict] = field(default=lambda w: {})
    expect: str = ALL_200
    query: Callable[[World], dict] = field(default=lambda w: {})
    method: str = "get"  # "post" for endpoints that answer POST only (the query is then the form)

    def codes(self) -> dict:
        codes = self.expect.split()
        assert len(codes) == len(ROLES), f"{self.label}: {self.expect!r} needs one code per role {ROLES}"
        return dict(zip(ROLES, (int(c) for c in codes)))


def per_side(make_kwargs, expect: dict, query=None) -> list[Probe]:
    """One probe per collection side: expect = {"public": codes, "limited": codes, ...}."""
    return [Probe(side, (lambda w, s=side: make_kwargs(w, getattr(w, s))), codes,
                  query or (lambda w: {})) for side, codes in expect.items()]


def _image_class(w):
    """The review class of the incoming collection's first image (made by the intake hook)."""
    from curation.review.models import ClassMember

    return ClassMember.objects.get(image_id=w.objects["image"]).image_class_id


def slug(w, side):
    return {"slug": side.slug}


def version(w, side):
    return {"version_id": side.version.pk}


def doi(kind):
    return lambda w, side: {"doi": w.objects["dois"][f"{kind}:{side.slug}"]}


def nbia(endpoint, params, expect_by_side, generation="v4", method="get"):
    """Probes of one NBIA endpoint on each side; params(side) gives the query."""
    return [Probe(f"{endpoint}:{side}", lambda w: {"generation": generation, "endpoint": endpoint}, codes,
                  (lambda w, s=side: params(w, getattr(w, s, None))), method) for side, codes in expect_by_side.items()]


# DICOMweb (dicomweb/urls.py, mounted as `dicomweb` — the latest released versions — and as
# `dicomweb_version` — one version). Released data only: a collection back in curation is a 404
# (or an empty search) for everyone, curators too; a limited one only with the agreement, and
# absent (404, not 403) without it. Every route is probed on real objects of each side.
def _instance_uid(side):
    if side.version is not None:
        return side.version.entries.filter(series=side.series).order_by("pk").first().sop_instance_uid
    return side.series.images.order_by("pk").first().sop_instance_uid


def _study(w, s):
    return {"study": s.series.study.study_instance_uid}


def _series(w, s):
    return {**_study(w, s), "series": s.series.series_instance_uid}


def _instance(w, s):
    return {**_series(w, s), "instance": _instance_uid(s)}


DW_READ = {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": "404 404 404 404 404 404",
           "incoming": "404 404 404 404 404 404"}
DW_SEARCH = {"public": ALL_200, "limited": "204 204 204 200 200 200", "hidden": "204 204 204 204 204 204",
             "incoming": "204 204 204 204 204 204"}
# name: (URL arguments, query, searches or reads)
DICOMWEB_ROUTES = {
    "search_studies": (lambda w, s: {}, lambda s: {"StudyInstanceUID": s.series.study.study_instance_uid}, DW_SEARCH),
    "search_series": (lambda w, s: {}, lambda s: {"SeriesInstanceUID": s.series.series_instance_uid}, DW_SEARCH),
    "search_instances": (lambda w, s: {}, lambda s: {"SeriesInstanceUID": s.series.series_instance_uid}, DW_SEARCH),
    "search_study_series": (_study, None, DW_SEARCH),
    "search_study_instances": (_study, None, DW_SEARCH),
    "search_series_instances": (_series, None, DW_SEARCH),
    "study": (_study, None, DW_READ),
    "study_metadata": (_study, None, DW_READ),
    "study_rendered": (_study, None, DW_READ),
    "study_thumbnail": (_study, None, DW_READ),
    "series": (_series, None, DW_READ),
    "series_metadata": (_series, None, DW_READ),
    "series_rendered": (_series, None, DW_READ),
    "series_thumbnail": (_series, None, DW_READ),
    "instance": (_instance, None, DW_READ),
    "instance_metadata": (_instance, None, DW_READ),
    "instance_rendered": (_instance, None, DW_READ),
    "instance_thumbnail": (_instance, None, DW_READ),
    "frames": (lambda w, s: {**_instance(w, s), "frame_list": "1"}, None, DW_READ),
    "frames_rendered": (lambda w, s: {**_instance(w, s), "frame_list": "1"}, None, DW_READ),
    "frames_thumbnail": (lambda w, s: {**_instance(w, s), "frame_list": "1"}, None, DW_READ),
    "bulkdata": (lambda w, s: {**_instance(w, s), "key": "7FE00010"}, None, DW_READ),
}
# A pinned version the caller may not read is no root at all: a 404 whatever is under it.
DW_PINNED = {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": "404 404 404 404 404 404"}


def _dicomweb_entries() -> dict[str, list[Probe]]:
    entries = {}
    for name, (make, query, latest) in DICOMWEB_ROUTES.items():
        q = (lambda w, s, f=query: f(s)) if query else None
        entries[f"dicomweb:{name}"] = [
            Probe(f"latest:{side}", (lambda w, s=side, m=make: m(w, getattr(w, s))), codes,
                  (lambda w, s=side, f=q: f(w, getattr(w, s)) if f else {}))
            for side, codes in latest.items()]
        entries[f"dicomweb_version:{name}"] = [
            Probe(f"pinned:{side}", (lambda w, s=side, m=make: {"version_id": getattr(w, s).version.pk,
                                                                 **m(w, getattr(w, s))}), codes,
                  (lambda w, s=side, f=q: f(w, getattr(w, s)) if f else {}))
            for side, codes in DW_PINNED.items()]
    return entries


# The NBIA metadata endpoints answer 200 to all (an empty answer when nothing is readable); what
# they must not say is checked by the leak search.
NBIA_SIDES = {"public": ALL_200, "limited": ALL_200, "hidden": ALL_200}
NBIA_DOWNLOAD = {"public": ALL_200, "limited": "400 400 400 200 200 200", "hidden": "404 404 404 404 404 404"}

EXPECT: dict[str, list[Probe]] = {
    # Accounts
    "login": [Probe("form")],
    "logout": [Probe("GET", expect=POST_ONLY)],
    "password_reset": [Probe("form")],
    "password_reset_done": [Probe("page")],
    "password_reset_confirm": [Probe("bad link", lambda w: {"uidb64": "MQ", "token": "set-password"})],
    "password_reset_complete": [Probe("page")],

    # Catalogue, wiki
    "catalogue": [Probe("list")],
    "collection_detail": per_side(slug, {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN, "incoming": HIDDEN}),
    "page_detail": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview"},
                            {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN}),
    "page_new": per_side(slug, {"public": LOGIN_STAFF, "hidden": LOGIN_STAFF}),
    "page_edit": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview"},
                          {"public": LOGIN_STAFF, "hidden": LOGIN_STAFF}),
    "page_history": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview"},
                             {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN}),
    "page_diff": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview"},
                          {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN}),
    "page_revision": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview", "number": 1},
                              {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN}),
    "page_revert": per_side(lambda w, s: {"slug": s.slug, "page_slug": "overview", "number": 1},
                            {"public": "302 405 405 405 405 405"}),

    # Series browsing, agreement, cart, downloads
    "data_series": per_side(slug, {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN, "incoming": HIDDEN}),
    "data_agreement": per_side(slug, {"limited": ALL_200, "hidden": HIDDEN}),
    "data_publish": per_side(slug, {"public": LOGIN_STAFF, "incoming": LOGIN_STAFF}),
    "publication_done": per_side(lambda w, s: {"slug": s.slug, "number": 1}, {"public": LOGIN_STAFF}),
    "favicon": [Probe("icon", expect="301 301 301 301 301 301")],
    "data_withdraw": per_side(lambda w, s: {"slug": s.slug, "number": 1}, {"public": "302 405 405 405 405 405"}),
    "data_cart": [Probe("empty cart")],
    "data_cart_zip": [Probe("empty cart", expect="404 404 404 404 404 404")],
    "data_cart_manifest": [Probe("empty cart", expect="404 404 404 404 404 404")],
    "data_version_zip": per_side(version, {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    "data_version_manifest": per_side(version, {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    "data_version_digest": per_side(version, {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    "data_version_digest_series": per_side(version, {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    "data_version_file": per_side(lambda w, s: {"version_id": s.version.pk,
                                                "sop_uid": s.version.entries.order_by("pk").first().sop_instance_uid},
                                  {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    "supporting_digest": per_side(version, {"public": ALL_200, "limited": DATA, "hidden": HIDDEN}),
    # the demo's clinical table is in the public collection's version 1 only
    "supporting_download": per_side(lambda w, s: {"version_id": s.version.pk, "name": "clinical.csv"},
                                    {"public": ALL_200, "limited": "403 403 403 404 404 404",
                                     "hidden": "404 404 404 404 404 404"}),
    "data_series_zip": per_side(lambda w, s: {"uid": s.series.series_instance_uid},
                                {"public": ALL_200, "limited": DATA, "hidden": "404 404 404 404 404 404"}),
    "data_study_zip": per_side(lambda w, s: {"uid": s.series.study.study_instance_uid},
                               {"public": ALL_200, "limited": DATA, "hidden": "404 404 404 404 404 404"}),
    "data_subset_zip": [Probe("public", lambda w: {"pk": w.objects["public_subset"]}),
                        Probe("hidden", lambda w: {"pk": w.objects["hidden_subset"]}, HIDDEN)],
    "data_subset_manifest": [Probe("public", lambda w: {"pk": w.objects["public_subset"]}),
                             Probe("hidden", lambda w: {"pk": w.objects["hidden_subset"]}, HIDDEN)],

    # DOIs
    "doi:list": [Probe("list")],
    "doi:resolve": per_side(doi("concept"), {"public": ALL_200, "limited": ALL_200, "hidden": "410 410 410 410 200 200"})
    + per_side(doi("version"), {"public": ALL_200, "limited": ALL_200, "hidden": "410 410 410 410 200 200"})
    + [Probe("public subset", lambda w: {"doi": w.objects["public_subset_doi"]}),
       Probe("hidden subset", lambda w: {"doi": w.objects["hidden_subset_doi"]}, "410 410 410 410 200 200"),
       Probe("derived", lambda w: {"doi": w.objects["derived_doi"]})],
    "doi:export": [Probe(f"{fmt}:{side}", lambda w, f=fmt, s=side: {"fmt": f, "doi": w.objects["dois"][f"concept:{s}"]},
                         ALL_200 if side != "demo-hidden-ct" else "410 410 410 410 200 200")
                   for fmt in ("datacite-json", "bibtex") for side in ("demo-chest-ct", "demo-hidden-ct")]
    + [Probe("hidden subset", lambda w: {"fmt": "ris", "doi": w.objects["hidden_subset_doi"]}, "410 410 410 410 200 200")],
    "doi:subset_request": [Probe("GET", expect="302 405 405 405 405 405")],
    "doi:subset_queue": [Probe("queue", expect=LOGIN_STAFF)],
    # A subset request is its requester's (the submitter here) and the curators'.
    "doi:subset_detail": [Probe("requested", lambda w: {"pk": w.objects["requested_subset"]}, "302 200 404 404 200 200"),
                          # its requester still sees the request, with the series of the hidden collection withheld
                          Probe("hidden", lambda w: {"pk": w.objects["hidden_subset"]}, "302 200 404 404 200 200")],
    "doi:subset_decide": [Probe("GET", lambda w: {"pk": w.objects["requested_subset"]}, "302 405 405 405 405 405")],
    "doi:derived_new": [Probe("form", expect=LOGIN_STAFF)],
    "doi:derived_file": [Probe("published", lambda w: {"slug": w.objects["derived_slug"], "name": w.objects["derived_file"]})],

    # NBIA-compatible API (one URL pattern, many endpoints)
    "nbia:oauth_token": [Probe("GET", expect=POST_ONLY)],
    "nbia:service": (
        nbia("getCollectionValues", lambda w, s: {}, {"all": ALL_200})
        + nbia("getSeries", lambda w, s: {"Collection": s.collection.short_name}, NBIA_SIDES)
        + nbia("getPatient", lambda w, s: {"Collection": s.collection.short_name}, NBIA_SIDES)
        + nbia("getPatientStudy", lambda w, s: {"Collection": s.collection.short_name}, NBIA_SIDES)
        + nbia("getSeriesSize", lambda w, s: {"SeriesInstanceUID": s.series.series_instance_uid}, NBIA_SIDES)
        + nbia("getSOPInstanceUIDs", lambda w, s: {"SeriesInstanceUID": s.series.series_instance_uid}, NBIA_SIDES)
        + nbia("getSeriesMetadata", lambda w, s: {"list": s.series.series_instance_uid, "format": "json"}, NBIA_SIDES)
        + nbia("getDicomTags", lambda w, s: {"SeriesUID": s.series.series_instance_uid}, NBIA_SIDES)
        + nbia("getManifestForCollection", lambda w, s: {"collection": s.collection.short_name}, NBIA_SIDES)
        + nbia("getManifestText", lambda w, s: {"list": s.series.series_instance_uid}, NBIA_SIDES)
        + nbia("getCollectionValuesAndCounts", lambda w, s: {}, {"all": ALL_200})
        + nbia("getCollectionDescriptions", lambda w, s: {"collectionName": s.collection.short_name}, NBIA_SIDES)
        + nbia("getCollectionOrSeriesForDOI",
               lambda w, s: {"DOI": w.objects["dois"][f"concept:{s.slug}"], "CollectionOrSeries": "series"}, NBIA_SIDES)
        + nbia("getImage", lambda w, s: {"SeriesInstanceUID": s.series.series_instance_uid}, NBIA_DOWNLOAD)
        + nbia("getSingleImage", lambda w, s: {"SeriesInstanceUID": s.series.series_instance_uid,
                                               "SOPInstanceUID": s.series.images.first().sop_instance_uid}, NBIA_DOWNLOAD)
        # Simple search (POST forms) lists patients only of collections whose data the caller may read
        + nbia("getSimpleSearch", lambda w, s: {"criteriaType0": "CollectionCriteria", "value0": s.collection.short_name,
                                                "size": "100"}, NBIA_SIDES, method="post")
        + nbia("getManifestForSimpleSearch", lambda w, s: {"criteriaType0": "CollectionCriteria",
                                                           "value0": s.collection.short_name}, NBIA_SIDES, method="post")
        + nbia("getSimpleSearch", lambda w, s: {}, {"GET": POST_ONLY})
        + nbia("getContentsByName", lambda w, s: {"name": w.objects["shared_cart"]}, {"cart": ALL_200}, generation="v1")
        + nbia("getUserAgreementTxt", lambda w, s: {}, {"text": ALL_200}, generation="v1")
        # v1 answers 204 when there is no row (NBIA does); the hidden collection has none for anyone
        + nbia("getSeriesMetaData", lambda w, s: {"SeriesInstanceUID": s.series.series_instance_uid},
               {"public": ALL_200, "limited": "204 204 204 200 200 200", "hidden": "204 204 204 204 204 204"},
               generation="v1")
    ),

    # The OHIF viewer (a page with no data in it; it reads /dicomweb/ as the caller) and its
    # per-version configuration (a root URL, the same for everyone).
    "ohif_viewer": [Probe(f"study:{side}", lambda w: {"path": "viewer"}, ALL_200,
                          lambda w, s=side: {"StudyInstanceUIDs": getattr(w, s).series.study.study_instance_uid,
                                             "version": getattr(w, s).version.pk})
                    for side in ("public", "limited", "hidden")],
    "ohif_version_config": per_side(version, {"public": ALL_200, "limited": ALL_200, "hidden": ALL_200}),

    # NBIA Data Retriever's servlet: the Retriever comes as the guest (it carries no session or
    # token), so only public data are listed (460 "login needed" otherwise) and sent (403).
    "retriever_version": [Probe("version", expect=ALL_200, query=lambda w: {"os": "Linux", "appVersion": "4.41"})],
    **{name: [Probe(f"list:{side}", expect=codes, query=lambda w, s=side: {
                    "numberOfSeries": "1", "series1": getattr(w, s).series.series_instance_uid})
              for side, codes in {"public": ALL_200, "limited": "460 460 460 460 460 460",
                                  "hidden": "460 460 460 460 460 460", "incoming": "460 460 460 460 460 460"}.items()]
              + [Probe(f"tar:{side}", expect=codes, query=lambda w, s=side: {
                       "seriesUid": getattr(w, s).series.series_instance_uid, "newFileNames": "Yes"})
                 for side, codes in {"public": ALL_200, "limited": "403 403 403 403 403 403",
                                     "hidden": "403 403 403 403 403 403"}.items()]
       for name in ("retriever_download", "retriever_download_v4")},

    # Shared carts: anyone may share (POST); the page shows each reader only the series they may read.
    "share_cart": [Probe("GET", expect=POST_ONLY)],
    "shared_cart": [Probe("public, limited, hidden series", lambda w: {"name": w.objects["shared_cart"]}),
                    Probe("missing", lambda w: {"name": "no-such-cart"}, "404 404 404 404 404 404")],

    # DICOMweb: every route on both roots
    **_dicomweb_entries(),

    # REST API
    "api:api-root": [Probe("root")],
    "api:schema": [Probe("schema")],
    "api:docs": [Probe("page")],
    "api:docs_asset": [Probe("bundle", lambda w: {"name": "swagger-ui-bundle.js"})],
    "api:collection-list": [Probe("list")],
    "api:collection-detail": per_side(slug, {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN, "incoming": HIDDEN}),
    "api:version-list": [Probe("list")],
    "api:version-detail": per_side(lambda w, s: {"pk": s.version.pk}, {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN}),
    "api:subject-list": [Probe("list")],
    "api:subject-detail": per_side(lambda w, s: {"pk": s.series.subject_id},
                                   {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": HIDDEN}),
    "api:study-list": [Probe("list")],
    "api:study-detail": per_side(lambda w, s: {"pk": s.series.study_id},
                                 {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": HIDDEN}),
    "api:series-list": [Probe("list")],
    "api:series-detail": per_side(lambda w, s: {"pk": s.series.pk},
                                  {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": HIDDEN,
                                   "incoming": HIDDEN}),
    "api:image-list": [Probe("list")],
    "api:image-detail": per_side(lambda w, s: {"pk": s.series.images.order_by("pk").first().pk},
                                 {"public": ALL_200, "limited": "404 404 404 200 200 200", "hidden": HIDDEN}),
    "api:doi-list": [Probe("list")],
    "api:doi-detail": [Probe("public concept", lambda w: {"pk": _doi_pk(w, "concept:demo-chest-ct")}),
                       Probe("hidden concept", lambda w: {"pk": _doi_pk(w, "concept:demo-hidden-ct")}, HIDDEN),
                       Probe("hidden subset", lambda w: {"pk": _doi_pk(w, "hidden_subset")}, HIDDEN)],

    # Proposals: for people with a role here; a draft is its submitter's (and staff's)
    "proposals:dashboard": [Probe("dashboard", expect="404 200 200 404 200 200")],
    "proposals:register": [Probe("form", expect="200 302 302 302 302 302")],
    "proposals:register_confirm": [Probe("bad link", lambda w: {"uidb64": "MQ", "token": "x-y"}, "400 400 400 400 400 400")],
    "proposals:create": [Probe("form", expect="404 200 404 404 404 404")],
    "proposals:board": [Probe("board", expect="404 404 200 404 404 200")],  # the committee's (admins are in it)
    "proposals:notifications": [Probe("own list", expect="404 200 200 200 200 200")],
    # A draft is its submitter's alone, until submitted.
    "proposals:detail": [Probe("draft", lambda w: {"pk": w.objects["proposal"]}, "404 200 404 404 404 404")],
    "proposals:edit": [Probe("draft", lambda w: {"pk": w.objects["proposal"]}, "404 200 404 404 404 404")],
    "proposals:attachment_add": [Probe("GET", lambda w: {"pk": w.objects["proposal"]}, POST_ONLY)],
    "proposals:attachment": [Probe("missing", lambda w: {"pk": w.objects["proposal"], "attachment_pk": 999999},
                                   "404 404 404 404 404 404")],
    "proposals:ask": [Probe("GET", lambda w: {"pk": w.objects["proposal"]}, POST_ONLY)],
    "proposals:answer": [Probe("GET", lambda w: {"pk": w.objects["proposal"], "question_pk": 1}, POST_ONLY)],
    "proposals:score": [Probe("draft", lambda w: {"pk": w.objects["proposal"]}, "404 403 404 404 404 404")],
    "proposals:decide": [Probe("draft", lambda w: {"pk": w.objects["proposal"]}, "404 403 404 404 404 404")],

    # Curation (curators and admins only; a 404 to everyone else)
    "curation:dashboard": [Probe("dashboard", expect=STAFF)],
    # it has a submission already: curators are sent to it
    "curation:submission_create": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, "404 404 404 404 302 302")],
    "curation:submission": [Probe("incoming", lambda w: {"pk": w.objects["submission"]}, STAFF)],
    "curation:upload": [Probe("GET", lambda w: {"pk": w.objects["submission"]}, STAFF_POST)],
    "curation:quarantine": [Probe("incoming", lambda w: {"pk": w.objects["submission"]}, STAFF)],
    "curation:subjects": [Probe("incoming", lambda w: {"pk": w.objects["submission"]}, STAFF)],
    "curation:subject_rename": [Probe("GET", lambda w: {"pk": w.objects["mapping"]}, STAFF_POST)],
    "curation:quarantine_download": [Probe("file", lambda w: {"pk": w.objects["quarantined"]}, STAFF)],
    "curation:batch": [Probe("batch", lambda w: {"pk": w.objects["batch"]}, STAFF)],
    "curation:batch_close": [Probe("GET", lambda w: {"pk": w.objects["batch"]}, STAFF_POST)],
    "curation:batch_retry": [Probe("GET", lambda w: {"pk": w.objects["batch"]}, STAFF_POST)],
    "curation:batch_status": [Probe("batch", lambda w: {"pk": w.objects["batch"]}, STAFF),
                              Probe("since=abc", lambda w: {"pk": w.objects["batch"]}, "404 404 404 404 400 400",
                                    lambda w: {"since": "abc"})],
    "curation:checks:findings": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:checks:run": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:checks:bulk": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:checks:tag_edit": [Probe("form", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:checks:corrections": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:checks:run_status": [Probe("missing", lambda w: {"pk": 999999}, "404 404 404 404 404 404")],
    "curation:checks:finding": [Probe("finding", lambda w: {"pk": w.objects["finding"]}, STAFF)],
    "curation:checks:finding_action": [Probe("GET", lambda w: {"pk": w.objects["finding"]}, STAFF_POST)],
    "curation:checks:correction": [Probe("correction", lambda w: {"pk": w.objects["correction"]}, STAFF)],
    "curation:checks:correction_status": [Probe("correction", lambda w: {"pk": w.objects["correction"]}, STAFF)],
    "curation:checks:correction_undo": [Probe("GET", lambda w: {"pk": w.objects["correction"]}, STAFF_POST)],
    "curation:checks:correction_retry": [Probe("GET", lambda w: {"pk": w.objects["correction"]}, STAFF_POST)],
    "curation:checks:history": [Probe("image", lambda w: {"kind": "image", "pk": w.objects["image"]}, STAFF)],
    "supporting:list": [Probe("public", lambda w: {"slug": w.public.slug}, STAFF)],
    "supporting:check": [Probe("GET", lambda w: {"slug": w.public.slug}, STAFF_POST)],
    "supporting:detail": [Probe("table", lambda w: {"pk": w.objects["supporting_file"]}, STAFF)],
    "supporting:file": [Probe("table", lambda w: {"pk": w.objects["supporting_file"]}, STAFF)],
    "supporting:dispositions": [Probe("GET", lambda w: {"pk": w.objects["supporting_file"]}, STAFF_POST)],
    "supporting:subject_column": [Probe("GET", lambda w: {"pk": w.objects["supporting_file"]}, STAFF_POST)],
    "supporting:detach": [Probe("GET", lambda w: {"pk": w.objects["supporting_file"]}, STAFF_POST)],
    "curation:phi:report": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:phi:mark": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:phi:apply": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:phi:sign": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:phi:export": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:phi:import": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:phi:import_preview": [Probe("incoming", lambda w: {"slug": w.incoming.slug, "pk": w.objects["phi_import"]}, STAFF)],
    "curation:phi:import_apply": [Probe("GET", lambda w: {"slug": w.incoming.slug, "pk": w.objects["phi_import"]}, STAFF_POST)],
    "curation:phi:import_discard": [Probe("GET", lambda w: {"slug": w.incoming.slug, "pk": w.objects["phi_import"]},
                                          STAFF_POST)],
    "curation:phi:selfscore": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:review:queue": [Probe("queue", expect=STAFF)],
    "curation:review:collection": [Probe("incoming", lambda w: {"slug": w.incoming.slug}, STAFF)],
    "curation:review:claim_next": [Probe("GET", lambda w: {"slug": w.incoming.slug}, STAFF_POST)],
    "curation:review:series": [Probe("incoming", lambda w: {"pk": w.incoming.series.pk}, STAFF)],
    "curation:review:viewer": [Probe("incoming", lambda w: {"pk": w.incoming.series.pk}, STAFF)],
    "curation:review:state": [Probe("incoming", lambda w: {"pk": w.incoming.series.pk}, STAFF)],
    "curation:review:accept": [Probe("GET", lambda w: {"pk": w.incoming.series.pk}, STAFF_POST)],
    "curation:review:image_class": [Probe("incoming", lambda w: {"pk": _image_class(w)}, STAFF)],
    "curation:review:montage": [Probe("incoming", lambda w: {"pk": _image_class(w)}, STAFF)],
    "curation:review:take": [Probe("GET", lambda w: {"pk": _image_class(w)}, STAFF_POST)],
    "curation:review:class_verdict": [Probe("GET", lambda w: {"pk": _image_class(w)}, STAFF_POST)],
    "curation:review:release": [Probe("GET", lambda w: {"pk": _image_class(w)}, STAFF_POST)],
    "curation:review:assign": [Probe("GET", lambda w: {"pk": _image_class(w)}, STAFF_POST)],
    "curation:review:lease": [Probe("GET", lambda w: {"pk": w.incoming.series.pk}, STAFF_POST)],
    "curation:review:verdict": [Probe("GET", lambda w: {"pk": w.objects["image"]}, STAFF_POST)],
    "curation:review:mask_preview": [Probe("GET", lambda w: {"pk": w.objects["image"]}, STAFF_POST)],
    "curation:review:mask_apply": [Probe("GET", lambda w: {"pk": w.objects["image"]}, STAFF_POST)],
    "curation:review:sheet": [Probe("sheet", lambda w: {"pk": w.incoming.series.pk, "page": 1, "key": "0" * 16}, STAFF)],
    "curation:review:thumb": [Probe("image", lambda w: {"sha": w.objects["sha"]}, STAFF)],
    "curation:review:preview": [Probe("image", lambda w: {"sha": w.objects["sha"], "window": "default", "frame": 0}, STAFF)],
    "curation:review:full": [Probe("image", lambda w: {"sha": w.objects["sha"], "frame": 0}, STAFF)],
    # Fixity audit (fixity/): staff pages; a failure made for the probe (its file is not blocked).
    "fixity:dashboard": [Probe("dashboard", expect=STAFF)],
    "fixity:run_now": [Probe("GET", expect=STAFF_POST)],
    "fixity:failure": [Probe("failure", lambda w: {"pk": _fixity_failure(w)}, STAFF)],
    "fixity:reverify": [Probe("GET", lambda w: {"pk": _fixity_failure(w)}, STAFF_POST)],
    "fixity:restore": [Probe("GET", lambda w: {"pk": _fixity_failure(w)}, STAFF_POST)],
    # Researcher feedback (feedback/): the report form wherever the collection page is readable;
    # the queue and a report (it holds the reporter's e-mail) for staff only.
    "report_problem": per_side(slug, {"public": ALL_200, "limited": ALL_200, "hidden": HIDDEN, "incoming": HIDDEN}),
    "feedback:queue": [Probe("queue", expect=STAFF)],
    "feedback:detail": [Probe("report", lambda w: {"pk": _report(w)}, STAFF)],
    "feedback:reply": [Probe("GET", lambda w: {"pk": _report(w)}, STAFF_POST)],
    "feedback:link": [Probe("GET", lambda w: {"pk": _report(w)}, STAFF_POST)],
    "feedback:state": [Probe("GET", lambda w: {"pk": _report(w)}, STAFF_POST)],
    "feedback:erratum": [Probe("GET", lambda w: {"pk": _report(w)}, STAFF_POST)],
    "feedback:erratum_withdraw": [Probe("GET", lambda w: {"pk": _erratum(w)}, STAFF_POST)],
}

# Django's admin: every page is for staff with the model's permission. Anyone else is sent to
# the admin login; the admin gets the page. (Curators are staff without model permissions.)
ADMIN_PREFIX = "admin:"
ADMIN_NON_STAFF = 302


def _doi_pk(w: World, key: str) -> int:
    from doi.models import DOI

    if key == "hidden_subset":
        return DOI.objects.get(doi=w.objects["hidden_subset_doi"]).pk
    return DOI.objects.get(doi=w.objects["dois"][key]).pk


def _fixity_failure(w: World) -> int:
    from collections_app.models import Image
    from fixity.models import FixityFailure, FixityRecord

    stored = Image.objects.get(pk=w.objects["image"]).stored_file
    record, _ = FixityRecord.objects.get_or_create(storage="archive", name=stored.storage_name, defaults={
        "sha256": stored.sha256, "size": stored.size, "stored_file": stored})
    return (record.failures.first() or FixityFailure.objects.create(record=record, kind="missing")).pk


def _report(w: World) -> int:
    from feedback.models import ProblemReport

    found = ProblemReport.objects.filter(collection=w.public.collection).first()
    return (found or ProblemReport.objects.create(collection=w.public.collection, category="other", message="Probe",
                                                  reporter_email="private@example.org")).pk


def _erratum(w: World) -> int:
    from feedback.models import Erratum

    found = Erratum.objects.filter(collection=w.public.collection).first()
    return (found or Erratum.objects.create(collection=w.public.collection, text="Probe erratum",
                                            published_by=w.users["curator"])).pk
