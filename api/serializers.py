from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from collections_app.models import Collection, CollectionVersion, Image, Series, Study, Subject


class CollectionSerializer(serializers.ModelSerializer):
    license_url = serializers.CharField(read_only=True)
    license_short = serializers.CharField(read_only=True)
    anatomic_sites = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    modalities = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    page_url = serializers.SerializerMethodField()
    # Figures of the latest released version (0 while none is released), never of files in curation.
    subject_count = serializers.SerializerMethodField()
    study_count = serializers.SerializerMethodField()
    series_count = serializers.SerializerMethodField()
    image_count = serializers.SerializerMethodField()
    total_bytes = serializers.SerializerMethodField()
    latest_version = serializers.IntegerField(source="latest_version.number", default=None, read_only=True)

    def _released(self, obj, field) -> int:
        return getattr(obj.latest_version, field) if obj.latest_version_id else 0

    def get_subject_count(self, obj) -> int:
        return self._released(obj, "subject_count")

    def get_study_count(self, obj) -> int:
        return self._released(obj, "study_count")

    def get_series_count(self, obj) -> int:
        return self._released(obj, "series_count")

    def get_image_count(self, obj) -> int:
        return self._released(obj, "image_count")

    def get_total_bytes(self, obj) -> int:
        return self._released(obj, "total_bytes")

    class Meta:
        model = Collection
        fields = [
            "id", "slug", "title", "short_name", "cancer_type", "anatomic_sites", "modalities", "summary",
            "license", "license_short", "license_url", "access", "status", "species", "data_use_agreement",
            "subject_count", "study_count", "series_count", "image_count", "total_bytes", "latest_version",
            "declared_subjects", "declared_size_bytes", "page_url",
            "created_at", "updated_at",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_page_url(self, obj) -> str:
        request = self.context.get("request")
        url = obj.get_absolute_url()
        return request.build_absolute_uri(url) if request else url


class VersionSerializer(serializers.ModelSerializer):
    collection = serializers.CharField(source="collection.short_name", read_only=True)

    class Meta:
        model = CollectionVersion
        fields = ["id", "collection", "number", "release_date", "notes", "manifest_sha256", "image_count",
                  "total_bytes", "withdrawn_at", "withdrawn_reason", "created_at"]


class SubjectSerializer(serializers.ModelSerializer):
    collection = serializers.CharField(source="collection.short_name", read_only=True)

    class Meta:
        model = Subject
        fields = ["id", "collection", "patient_id", "patient_sex", "ethnic_group", "species_code",
                  "species_description", "phantom", "created_at"]


class StudySerializer(serializers.ModelSerializer):
    collection = serializers.CharField(source="collection.short_name", read_only=True)
    patient_id = serializers.CharField(source="subject.patient_id", read_only=True)

    class Meta:
        model = Study
        fields = ["id", "collection", "patient_id", "study_instance_uid", "study_date", "study_description",
                  "study_id", "patient_age", "admitting_diagnoses_description", "longitudinal_temporal_event_type",
                  "longitudinal_temporal_offset_from_event", "created_at"]


class SeriesSerializer(serializers.ModelSerializer):
    collection = serializers.CharField(source="collection.short_name", read_only=True)
    patient_id = serializers.CharField(source="subject.patient_id", read_only=True)
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Series
        fields = [
            "id", "collection", "patient_id", "study_instance_uid", "series_instance_uid", "modality",
            "body_part_examined", "manufacturer", "manufacturer_model_name", "software_versions", "protocol_name",
            "series_date", "series_number", "series_description", "pixel_spacing_row", "slice_thickness",
            "annotations_flag", "third_party_analysis", "image_count", "total_bytes", "max_submission_timestamp",
            "date_released", "download_url",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, obj) -> str:
        url = reverse("nbia:service", args=["v4", "getImage"]) + f"?SeriesInstanceUID={obj.series_instance_uid}"
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ImageSerializer(serializers.ModelSerializer):
    series_instance_uid = serializers.CharField(source="series.series_instance_uid", read_only=True)
    sha256 = serializers.CharField(source="stored_file.sha256", read_only=True)
    md5 = serializers.CharField(source="stored_file.md5", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "series_instance_uid", "sop_instance_uid", "sop_class_uid", "instance_number",
                  "acquisition_number", "file_size", "sha256", "md5", "transfer_syntax_uid", "rows", "columns",
                  "number_of_frames", "download_url"]

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, obj) -> str:
        url = (
            reverse("nbia:service", args=["v4", "getSingleImage"])
            + f"?SeriesInstanceUID={obj.series.series_instance_uid}&SOPInstanceUID={obj.sop_instance_uid}"
        )
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


def doi_serializer_class(model):
    class DOISerializer(serializers.ModelSerializer):
        collection = serializers.CharField(source="collection.short_name", read_only=True, allow_null=True, default=None)
        version_number = serializers.IntegerField(source="version.number", read_only=True, allow_null=True, default=None)
        resolver_url = serializers.CharField(source="https", read_only=True)

        class Meta:
            fields = ["id", "doi", "kind", "state", "collection", "version_number", "url", "resolver_url",
                      "created_at", "registered_at"]

    DOISerializer.Meta.model = model
    return DOISerializer
