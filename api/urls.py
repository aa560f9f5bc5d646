"""Mounted at /api/: the REST API, its OpenAPI schema and its documentation page."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from . import views

app_name = "api"

router = DefaultRouter()
router.include_format_suffixes = False
router.register("collections", views.CollectionViewSet, basename="collection")
router.register("versions", views.VersionViewSet, basename="version")
router.register("subjects", views.SubjectViewSet, basename="subject")
router.register("studies", views.StudyViewSet, basename="study")
router.register("series", views.SeriesViewSet, basename="series")
router.register("images", views.ImageViewSet, basename="image")
_doi = views.doi_viewset()
if _doi is not None:
    router.register("dois", _doi, basename="doi")

SCHEMA_SETTINGS = {
    "TITLE": "Open Cancer Imaging Archive REST API",
    "DESCRIPTION": (
        "Read-only access to collections, versions, subjects, studies, series, images and DOIs. "
        "Lists are cursor-paged (follow `next`). Limited-access collections need a bearer token from "
        "`POST /nbia-api/oauth/token` (grant_type=password). The NBIA-compatible API for TCIA's own "
        "clients lives under /nbia-api/services/v4/."
    ),
    "VERSION": "1.0.0",
    "COMPONENT_SPLIT_REQUEST": True,
}

schema_patterns = [path("api/", include((router.urls, "api")))]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(patterns=schema_patterns, custom_settings=SCHEMA_SETTINGS), name="schema"),
    path("docs/", views.docs, name="docs"),
    path("docs/assets/<str:name>", views.docs_asset, name="docs_asset"),
    path("", include(router.urls)),
]
