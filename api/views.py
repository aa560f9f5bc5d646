"""The documented REST API under /api/: read-only viewsets over the archive, filtered with
django-filter, paged with cursors, authenticated by session or bearer token, throttled, and
described by an OpenAPI schema (drf-spectacular) with a Swagger UI page served locally.

What a caller sees goes through one path: `visible_to(user)`, and for the public only data
that is released (series with a release date in a published collection).
"""
import mimetypes
from pathlib import Path

import drf_spectacular_sidecar
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

from collections_app.models import Collection, CollectionVersion, Image, Series, Study, Subject
from collections_app.selectors import released_series
from tcia.core import roles

from . import filters, serializers
from .authentication import BearerTokenAuthentication
from .pagination import IdCursorPagination
from .throttling import AnonThrottle, UserThrottle


class ArchiveViewSet(viewsets.ReadOnlyModelViewSet):
    schema = AutoSchema()
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, UserThrottle]
    pagination_class = IdCursorPagination
    filter_backends = [DjangoFilterBackend]
    # JSON only: DRF's browsable pages carry inline scripts the Content-Security-Policy refuses;
    # people read the API at /api/docs/ (Swagger UI, served from our own files).
    renderer_classes = [JSONRenderer]

    def staff(self) -> bool:
        return roles.is_curator(self.request.user)

    def released(self):
        return released_series(self.request.user)


class CollectionViewSet(ArchiveViewSet):
    """Collections the caller may see (published and retired ones for the public)."""

    serializer_class = serializers.CollectionSerializer
    filterset_class = filters.CollectionFilter
    lookup_field = "slug"

    def get_queryset(self):
        return (Collection.objects.visible_to(self.request.user).select_related("latest_version")
                .prefetch_related("anatomic_sites", "modalities"))


class VersionViewSet(ArchiveViewSet):
    """Frozen releases of collections (withdrawn ones stay listed, with the reason)."""

    serializer_class = serializers.VersionSerializer
    filterset_class = filters.VersionFilter

    def get_queryset(self):
        return CollectionVersion.objects.visible_to(self.request.user).select_related("collection")


class SubjectViewSet(ArchiveViewSet):
    """Subjects (patients) that have released series."""

    serializer_class = serializers.SubjectSerializer
    filterset_class = filters.SubjectFilter

    def get_queryset(self):
        qs = Subject.objects.visible_to(self.request.user).select_related("collection")
        if not self.staff():
            qs = qs.filter(Exists(self.released().filter(subject_id=OuterRef("pk"))))
        return qs


class StudyViewSet(ArchiveViewSet):
    """Studies that have released series."""

    serializer_class = serializers.StudySerializer
    filterset_class = filters.StudyFilter

    def get_queryset(self):
        qs = Study.objects.visible_to(self.request.user).select_related("collection", "subject")
        if not self.staff():
            qs = qs.filter(Exists(self.released().filter(study_id=OuterRef("pk"))))
        return qs


class SeriesViewSet(ArchiveViewSet):
    """Released series (curators also see series not yet released)."""

    serializer_class = serializers.SeriesSerializer
    filterset_class = filters.SeriesFilter

    def get_queryset(self):
        qs = Series.objects.visible_to(self.request.user) if self.staff() else self.released()
        return qs.select_related("collection", "subject", "study")


class ImageViewSet(ArchiveViewSet):
    """Images of released series, with their content hashes and a download link."""

    serializer_class = serializers.ImageSerializer
    filterset_class = filters.ImageFilter

    def get_queryset(self):
        qs = Image.objects.visible_to(self.request.user)
        if not self.staff():
            qs = qs.filter(series__in=self.released())
        return qs.select_related("series", "stored_file")


def doi_viewset():
    """A read-only DOI list when the doi app provides its DOI model (None otherwise)."""
    try:
        from doi.models import DOI
    except ImportError:
        return None

    class DOIViewSet(ArchiveViewSet):
        """DOIs of collections, versions, subsets and derived datasets (drafts only for staff)."""

        serializer_class = serializers.doi_serializer_class(DOI)
        filterset_fields = ["kind", "state"]

        def get_queryset(self):
            from doi.selectors import findable_dois

            return findable_dois(self.request.user).select_related("collection", "version")

    return DOIViewSet


def docs(request):
    """Swagger UI over /api/schema/, its assets served from drf-spectacular-sidecar (no CDN)."""
    return render(
        request,
        "api/docs.html",
        {
            "schema_url": reverse("api:schema"),
            "asset_base": reverse("api:docs_asset", args=["swagger-ui.css"]).rsplit("/", 1)[0] + "/",
        },
    )


SIDECAR_DIR = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"
ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}


def docs_asset(request, name: str):
    if name not in ASSETS:
        raise Http404("No such asset.")
    path = SIDECAR_DIR / name
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse(open(path, "rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
