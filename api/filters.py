"""django-filter filter sets of the REST API. Names are case-insensitive, UIDs exact."""
import datetime as dt

import django_filters as df

from collections_app.models import Collection, CollectionVersion, Image, Series, Study, Subject


class UTCDateTimeFilter(df.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC. ISO allows offsets up to ±23:59, PostgreSQL only
    ±15:59, so the value goes to the database in UTC; one that leaves the calendar in UTC
    (year 1 with a positive offset, year 9999 with a negative one) is the calendar's end."""

    def filter(self, qs, value):
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(dt.timezone.utc)
            except OverflowError:
                end = dt.datetime.min if value.year == 1 else dt.datetime.max
                value = end.replace(tzinfo=dt.timezone.utc)
        return super().filter(qs, value)


class CollectionFilter(df.FilterSet):
    short_name = df.CharFilter(lookup_expr="iexact")
    cancer_type = df.CharFilter(lookup_expr="icontains")
    modality = df.CharFilter(field_name="modalities__code", lookup_expr="iexact", distinct=True)
    anatomic_site = df.CharFilter(field_name="anatomic_sites__name", lookup_expr="iexact", distinct=True)

    class Meta:
        model = Collection
        fields = ["status", "access", "license", "species"]


class VersionFilter(df.FilterSet):
    collection = df.CharFilter(field_name="collection__short_name", lookup_expr="iexact")

    class Meta:
        model = CollectionVersion
        fields = ["number"]


class SubjectFilter(df.FilterSet):
    collection = df.CharFilter(field_name="collection__short_name", lookup_expr="iexact")
    patient_id = df.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Subject
        fields = ["patient_sex", "phantom"]


class StudyFilter(df.FilterSet):
    collection = df.CharFilter(field_name="collection__short_name", lookup_expr="iexact")
    patient_id = df.CharFilter(field_name="subject__patient_id", lookup_expr="iexact")
    study_date_after = df.DateFilter(field_name="study_date", lookup_expr="gte")
    study_date_before = df.DateFilter(field_name="study_date", lookup_expr="lte")

    class Meta:
        model = Study
        fields = ["study_instance_uid"]


class SeriesFilter(df.FilterSet):
    collection = df.CharFilter(field_name="collection__short_name", lookup_expr="iexact")
    patient_id = df.CharFilter(field_name="subject__patient_id", lookup_expr="iexact")
    study_instance_uid = df.CharFilter(field_name="study__study_instance_uid")
    modality = df.CharFilter(lookup_expr="iexact")
    body_part_examined = df.CharFilter(lookup_expr="iexact")
    manufacturer = df.CharFilter(lookup_expr="iexact")
    manufacturer_model_name = df.CharFilter(lookup_expr="iexact")
    released_after = UTCDateTimeFilter(field_name="date_released", lookup_expr="gte")
    released_before = UTCDateTimeFilter(field_name="date_released", lookup_expr="lte")

    class Meta:
        model = Series
        fields = ["series_instance_uid", "annotations_flag", "third_party_analysis"]


class ImageFilter(df.FilterSet):
    series_instance_uid = df.CharFilter(field_name="series__series_instance_uid")

    class Meta:
        model = Image
        fields = ["sop_instance_uid", "sop_class_uid"]
