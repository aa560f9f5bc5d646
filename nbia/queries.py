"""The metadata endpoints of the NBIA-compatible API: parameters, columns and rows.

Each handler takes the request context and the query parameters and returns (columns, rows),
reading the index with `values()` and annotations so a request costs the same few queries
whatever the number of rows. Column lists and their order follow reference §3 exactly.
"""
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from collections_app.models import Subject
from collections_app.selectors import released_series

from .context import Ctx


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def required(params, name):
    value = params.get(name)
    if not value:
        raise ApiError(f"A parameter, {name}, is required for this API call.")
    return value


# ---------------------------------------------------------------- value conversions

def blank(value):
    """The index stores absent DICOM values as ''; NBIA has nulls, whose keys JSON drops."""
    return None if value == "" else value


def _as_date(value):
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value, dt.timezone.utc)
        return value
    return value


def out_date(ctx: Ctx, value):
    """Dates as the API generation writes them, memoised per request (rows share dates)."""
    if value is None:
        return None
    try:
        return ctx.date_cache[value]
    except KeyError:
        text = ctx.date_cache[value] = _format_date(ctx, value)
        return text


def _format_date(ctx: Ctx, value):
    value = _as_date(value)
    if value is None:
        return None
    if ctx.generation == "v1":
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S.0")
        return value.strftime("%Y-%m-%d 00:00:00.0")
    return value.strftime("%m-%d-%Y")


def parse_date(value: str, formats: tuple[str, ...], name: str) -> dt.datetime:
    for fmt in formats:
        try:
            day = dt.datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        return timezone.make_aware(day, dt.timezone.utc)
    shown = " or ".join(f.replace("%m", "MM").replace("%d", "dd").replace("%Y", "yyyy") for f in formats)
    raise ApiError(f"The {name} parameter must be a date in the format {shown}.")


def from_date(ctx: Ctx, params, endpoint: str) -> dt.datetime | None:
    if ctx.generation == "v1":
        if endpoint == "getUpdatedSeries":
            value = params.get("fromDate")
            return parse_date(value, ("%d/%m/%Y",), "fromDate") if value else None
        value = params.get("Date")
        return parse_date(value, ("%Y/%m/%d",), "Date") if value else None
    value = params.get("fromDate")
    return parse_date(value, ("%m-%d-%Y",), "fromDate") if value else None


def yes_no(flag: bool) -> str:
    return "YES" if flag else "NO"


_SANITISE = re.compile(r"[^A-Za-z0-9 .-]")


def sanitised(value: str | None):
    if not value:
        return None
    return _SANITISE.sub("", value)


# ---------------------------------------------------------------- filters

def restrict(qs, ctx: Ctx, params, mapping: dict[str, str], collection_path: str = "collection_id"):
    """Apply NBIA filters: names case-insensitive, UIDs exact. `mapping` maps a parameter to
    its ORM path; a path ending in '__exact' is a UID."""
    ids = ctx.ids_named(params.get("Collection"))
    if ids is not None:
        qs = qs.filter(**{f"{collection_path}__in": ids})
    for param, path in mapping.items():
        value = params.get(param)
        if not value:
            continue
        if path.endswith("__exact"):
            qs = qs.filter(**{path: value.strip()})
        else:
            qs = qs.filter(**{f"{path}__iexact": value.strip()})
    return qs


def series_base(ctx: Ctx):
    """Series whose rows the caller may read (collections_app.access: data level)."""
    return released_series(ctx.user)


def series_catalogue(ctx: Ctx):
    """Also the series of limited collections the caller may see but not read: only for value
    lists and counts, which name no subject, study or series (their rows say Authorized 0)."""
    return released_series(ctx.user, catalogue=True)


# ---------------------------------------------------------------- single-value endpoints

def _distinct(ctx, params, field, column, mapping):
    qs = restrict(series_catalogue(ctx), ctx, params, mapping)
    values = qs.exclude(**{field: ""}).values_list(field, flat=True).distinct().order_by(field)
    return [column], [[v] for v in values]


def get_collection_values(ctx, params):
    ids = series_catalogue(ctx).order_by().values_list("collection_id", flat=True).distinct()
    names = sorted(ctx.collections[i].name for i in ids if i in ctx.collections)
    return ["Collection"], [[n] for n in names]


def get_modality_values(ctx, params):
    return _distinct(ctx, params, "modality", "Modality", {"BodyPartExamined": "body_part_examined"})


def get_body_part_values(ctx, params):
    return _distinct(ctx, params, "body_part_examined", "BodyPartExamined", {"Modality": "modality"})


def get_manufacturer_values(ctx, params):
    return _distinct(
        ctx, params, "manufacturer", "Manufacturer", {"Modality": "modality", "BodyPartExamined": "body_part_examined"}
    )


# ---------------------------------------------------------------- patients

def patient_columns(ctx):
    cols = ["PatientId", "PatientName"]
    if ctx.generation == "v1":
        cols.append("PatientBirthDate")
    cols += ["PatientSex", "EthnicGroup", "Collection", "Phantom", "SpeciesCode", "SpeciesDescription"]
    if ctx.is_v4:
        cols.append("Authorized")
    return cols


def _patients(ctx, params, series_filter, patient_param="PatientId"):
    released = series_base(ctx).filter(subject_id=OuterRef("pk"), **series_filter)
    qs = Subject.objects.filter(Exists(released))
    qs = restrict(qs, ctx, params, {patient_param: "patient_id"})
    rows = []
    for s in qs.values(
        "patient_id", "patient_sex", "ethnic_group", "collection_id", "phantom", "species_code", "species_description"
    ).order_by("collection_id", "patient_id"):
        info = ctx.collections.get(s["collection_id"])
        if info is None:
            continue
        row = [s["patient_id"], s["patient_id"]]
        if ctx.generation == "v1":
            row.append(None)  # birth dates are removed by de-identification
        row += [
            blank(s["patient_sex"]), blank(s["ethnic_group"]), info.name, yes_no(s["phantom"]),
            blank(s["species_code"]), blank(s["species_description"]) or blank(info.species),
        ]
        if ctx.is_v4:
            row.append(info.authorized)
        rows.append(row)
    return patient_columns(ctx), rows


def get_patient(ctx, params):
    return _patients(ctx, params, {})


def new_patients_in_collection(ctx, params):
    since = from_date(ctx, params, "NewPatientsInCollection")
    return _patients(ctx, params, {"date_released__gte": since} if since else {})


def get_patient_by_collection_and_modality(ctx, params):
    required(params, "Collection")
    modality = required(params, "Modality")
    qs = restrict(series_base(ctx), ctx, params, {}).filter(modality__iexact=modality.strip())
    rows = []
    for cid, pid in qs.values_list("collection_id", "subject__patient_id").distinct().order_by("subject__patient_id"):
        row = [pid]
        if ctx.is_v4:
            row.append(ctx.collections[cid].authorized if cid in ctx.collections else 0)
        rows.append(row)
    return (["PatientId", "Authorized"] if ctx.is_v4 else ["PatientId"]), rows


# ---------------------------------------------------------------- studies

def study_columns(ctx):
    cols = ["StudyInstanceUID", "StudyDate", "StudyDescription", "AdmittingDiagnosesDescription", "StudyID",
            "PatientAge", "PatientID", "PatientName"]
    if ctx.generation == "v1":
        cols.append("PatientBirthDate")
    cols += ["PatientSex", "EthnicGroup", "Collection", "SeriesCount", "LongitudinalTemporalEventType",
             "LongitudinalTemporalOffsetFromEvent"]
    if ctx.is_v4:
        cols.append("Authorized")
    return cols


def _studies(ctx, params, extra_filter):
    qs = restrict(
        series_base(ctx).filter(**extra_filter), ctx, params,
        {"PatientID": "subject__patient_id", "StudyInstanceUID": "study__study_instance_uid__exact"},
    )
    grouped = (
        qs.values(
            "study_id", "study__study_instance_uid", "study__study_date", "study__study_description",
            "study__admitting_diagnoses_description", "study__study_id", "study__patient_age",
            "subject__patient_id", "subject__patient_sex", "subject__ethnic_group", "collection_id",
            "study__longitudinal_temporal_event_type", "study__longitudinal_temporal_offset_from_event",
        )
        .annotate(series_count=Count("id"))
        .order_by("subject__patient_id", "study__study_date", "study__study_instance_uid")
    )
    rows = []
    for s in grouped:
        info = ctx.collections.get(s["collection_id"])
        if info is None:
            continue
        row = [
            s["study__study_instance_uid"], out_date(ctx, s["study__study_date"]), blank(s["study__study_description"]),
            blank(s["study__admitting_diagnoses_description"]), blank(s["study__study_id"]),
            blank(s["study__patient_age"]), s["subject__patient_id"], s["subject__patient_id"],
        ]
        if ctx.generation == "v1":
            row.append(None)
        row += [
            blank(s["subject__patient_sex"]), blank(s["subject__ethnic_group"]), info.name, s["series_count"],
            blank(s["study__longitudinal_temporal_event_type"]), s["study__longitudinal_temporal_offset_from_event"],
        ]
        if ctx.is_v4:
            row.append(info.authorized)
        rows.append(row)
    return study_columns(ctx), rows


def get_patient_study(ctx, params):
    return _studies(ctx, params, {})


def new_studies_in_patient_collection(ctx, params):
    since = from_date(ctx, params, "NewStudiesInPatientCollection")
    return _studies(ctx, params, {"date_released__gte": since} if since else {})


# ---------------------------------------------------------------- series

SERIES_V1 = ["SeriesInstanceUID", "StudyInstanceUID", "Modality", "ProtocolName", "SeriesDate", "SeriesDescription",
             "BodyPartExamined", "SeriesNumber", "AnnotationsFlag", "Collection", "PatientID", "Manufacturer",
             "ManufacturerModelName", "SoftwareVersions", "ImageCount", "TimeStamp", "LicenseName", "LicenseURI",
             "CollectionURI", "FileSize", "DateReleased", "StudyDesc", "StudyDate", "ThirdPartyAnalysis"]
SERIES_V4 = ["SeriesInstanceUID", "StudyInstanceUID", "Modality", "ProtocolName", "SeriesDate", "SeriesDescription",
             "BodyPartExamined", "SeriesNumber", "AnnotationsFlag", "Collection", "Site", "PatientID", "PatientSex",
             "PatientAge", "AdmittingDiagnosisDescription", "Manufacturer", "ManufacturerModelName",
             "SoftwareVersions", "ImageCount", "MaxSubmissionTimestamp", "LicenseName", "LicenseURI",
             "DataDescriptionURI", "FileSize", "ReleasedStatus", "DateReleased", "StudyDesc", "StudyDate",
             "ThirdPartyAnalysis", "Authorized"]
SERIES_FIELDS = (
    "series_instance_uid", "study__study_instance_uid", "modality", "protocol_name", "series_date",
    "series_description", "body_part_examined", "series_number", "annotations_flag", "collection_id",
    "subject__patient_id", "subject__patient_sex", "study__patient_age", "study__admitting_diagnoses_description",
    "manufacturer", "manufacturer_model_name", "software_versions", "released_image_count", "max_submission_timestamp",
    "released_bytes", "date_released", "study__study_description", "study__study_date", "third_party_analysis",
)
SERIES_FILTERS = {
    "PatientID": "subject__patient_id",
    "StudyInstanceUID": "study__study_instance_uid__exact",
    "Modality": "modality",
    "BodyPartExamined": "body_part_examined",
    "ManufacturerModelName": "manufacturer_model_name",
    "Manufacturer": "manufacturer",
    "SeriesInstanceUID": "series_instance_uid__exact",
}


def _series_row(ctx, s, info):
    a = {
        "SeriesInstanceUID": s["series_instance_uid"],
        "StudyInstanceUID": s["study__study_instance_uid"],
        "Modality": blank(s["modality"]),
        "ProtocolName": blank(s["protocol_name"]),
        "SeriesDate": out_date(ctx, s["series_date"]),
        "SeriesDescription": blank(s["series_description"]),
        "BodyPartExamined": blank(s["body_part_examined"]),
        "SeriesNumber": blank(s["series_number"]),
        "AnnotationsFlag": True if s["annotations_flag"] else None,
        "Collection": info.name,
        "Site": None,
        "PatientID": s["subject__patient_id"],
        "PatientSex": blank(s["subject__patient_sex"]),
        "PatientAge": blank(s["study__patient_age"]),
        "AdmittingDiagnosisDescription": blank(s["study__admitting_diagnoses_description"]),
        "Manufacturer": blank(s["manufacturer"]),
        "ManufacturerModelName": blank(s["manufacturer_model_name"]),
        "SoftwareVersions": blank(s["software_versions"]),
        "ImageCount": s["released_image_count"],
        "MaxSubmissionTimestamp": out_date(ctx, s["max_submission_timestamp"]),
        "TimeStamp": out_date(ctx, s["max_submission_timestamp"]),
        "LicenseName": blank(info.license_name),
        "LicenseURI": blank(info.license_uri),
        "DataDescriptionURI": blank(info.doi_url),
        "CollectionURI": blank(info.doi_url),
        "FileSize": s["released_bytes"],
        "ReleasedStatus": "Released",
        "DateReleased": out_date(ctx, s["date_released"]),
        "StudyDesc": blank(s["study__study_description"]),
        "StudyDate": out_date(ctx, s["study__study_date"]),
        "ThirdPartyAnalysis": yes_no(s["third_party_analysis"]),
        "Authorized": info.authorized,
    }
    return a


def series_columns(ctx):
    return SERIES_V4 if ctx.is_v4 else SERIES_V1


def _series(ctx, params, columns, extra_filter=None):
    qs = restrict(series_base(ctx), ctx, params, SERIES_FILTERS)
    if extra_filter:
        qs = qs.filter(**extra_filter)
    values = qs.values_list(*SERIES_FIELDS).order_by("series_instance_uid")
    if columns is SERIES_V4:
        return columns, _series_rows_v4(ctx, values)
    rows = []
    for t in values:
        s = dict(zip(SERIES_FIELDS, t))
        info = ctx.collections.get(s["collection_id"])
        if info is None:
            continue
        a = _series_row(ctx, s, info)
        rows.append([a[c] for c in columns])
    return columns, rows


def _series_rows_v4(ctx, values):
    """The hot path of getSeries (v4): one tuple per row in SERIES_V4 order, no per-cell calls
    beyond the memoised date formatting, since a collection can hold thousands of series."""
    dates = ctx.date_cache
    collections = ctx.collections

    def d(value):
        if value is None:
            return None
        text = dates.get(value)
        if text is None:
            text = dates[value] = _format_date(ctx, value)
        return text

    per_collection = {}
    rows = []
    for (uid, study_uid, modality, protocol, series_date, description, body_part, number, annotations, cid,
         patient_id, sex, age, diagnosis, manufacturer, model, software, image_count, max_ts, total_bytes,
         released, study_desc, study_date, third_party) in values:
        c = per_collection.get(cid)
        if c is None:
            info = collections.get(cid)
            if info is None:
                continue
            c = per_collection[cid] = (info.name, info.license_name or None, info.license_uri or None,
                                       info.doi_url or None, info.authorized)
        rows.append((
            uid, study_uid, modality or None, protocol or None, d(series_date), description or None,
            body_part or None, number or None, True if annotations else None, c[0], None, patient_id, sex or None,
            age or None, diagnosis or None, manufacturer or None, model or None, software or None, image_count,
            d(max_ts), c[1], c[2], c[3], total_bytes, "Released", d(released), study_desc or None, d(study_date),
            "YES" if third_party else "NO", c[4],
        ))
    return rows


def get_series(ctx, params):
    return _series(ctx, params, series_columns(ctx))


# PostgreSQL builds the v4 getSeries JSON itself: at thousands of rows per collection this keeps
# the answer within a few milliseconds instead of formatting every cell in Python. The output is
# the same JSON (keys in SERIES_V4 order, null keys dropped, MM-DD-YYYY dates); only whitespace
# differs. Collection-level values come in as arrays joined on the collection id.
_PG_SERIES_JSON = """
SELECT coalesce(json_agg(json_strip_nulls(json_build_object(
  'SeriesInstanceUID', q.uid, 'StudyInstanceUID', q.study_uid, 'Modality', nullif(q.modality, ''),
  'ProtocolName', nullif(q.protocol, ''), 'SeriesDate', to_char(q.series_date, 'MM-DD-YYYY'),
  'SeriesDescription', nullif(q.description, ''), 'BodyPartExamined', nullif(q.body_part, ''),
  'SeriesNumber', nullif(q.number, ''), 'AnnotationsFlag', CASE WHEN q.annotations THEN true END,
  'Collection', c.name, 'Site', NULL, 'PatientID', q.patient_id, 'PatientSex', nullif(q.sex, ''),
  'PatientAge', nullif(q.age, ''), 'AdmittingDiagnosisDescription', nullif(q.diagnosis, ''),
  'Manufacturer', nullif(q.manufacturer, ''), 'ManufacturerModelName', nullif(q.model, ''),
  'SoftwareVersions', nullif(q.software, ''), 'ImageCount', q.image_count,
  'MaxSubmissionTimestamp', to_char(q.max_ts AT TIME ZONE 'UTC', 'MM-DD-YYYY'),
  'LicenseName', nullif(c.license_name, ''), 'LicenseURI', nullif(c.license_uri, ''),
  'DataDescriptionURI', nullif(c.doi, ''), 'FileSize', q.total_bytes, 'ReleasedStatus', 'Released',
  'DateReleased', to_char(q.released AT TIME ZONE 'UTC', 'MM-DD-YYYY'), 'StudyDesc', nullif(q.study_desc, ''),
  'StudyDate', to_char(q.study_date, 'MM-DD-YYYY'),
  'ThirdPartyAnalysis', CASE WHEN q.third_party THEN 'YES' ELSE 'NO' END, 'Authorized', c.authorized
)) ORDER BY q.uid), '[]')::text
FROM ({inner}) AS q(uid, study_uid, modality, protocol, series_date, description, body_part, number, annotations,
     cid, patient_id, sex, age, diagnosis, manufacturer, model, software, image_count, max_ts, total_bytes,
     released, study_desc, study_date, third_party)
JOIN unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[])
     AS c(id, name, license_name, license_uri, doi, authorized) ON c.id = q.cid
"""


def get_series_json_pg(ctx, params) -> str | None:
    """The v4 getSeries JSON text built by PostgreSQL ('' for no rows); None when not on PostgreSQL."""
    from django.db import connections

    qs = restrict(series_base(ctx), ctx, params, SERIES_FILTERS)
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return None
    from django.core.exceptions import EmptyResultSet

    try:
        inner, inner_params = qs.values_list(*SERIES_FIELDS).order_by().query.sql_with_params()
    except EmptyResultSet:  # e.g. a Collection filter naming no collection
        return ""
    infos = list(ctx.collections.values())
    arrays = [
        [i.id for i in infos], [i.name for i in infos], [i.license_name for i in infos],
        [i.license_uri for i in infos], [i.doi_url for i in infos], [i.authorized for i in infos],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_PG_SERIES_JSON.replace("{inner}", inner), (*inner_params, *arrays))
        text = cursor.fetchone()[0]
    return "" if text == "[]" else text


def get_updated_series(ctx, params):
    since = from_date(ctx, params, "getUpdatedSeries")
    if since is None:
        raise ApiError("A parameter, fromDate, is required for this API call.")
    columns = series_columns(ctx) if ctx.generation != "v1" else SERIES_V1[:15] + ["DateReleased"]
    return _series(ctx, params, columns, {"date_released__gte": since})


def get_series_size(ctx, params):
    uid = required(params, "SeriesInstanceUID")
    row = series_base(ctx).filter(series_instance_uid=uid.strip()).values_list("released_bytes", "released_image_count").first()
    if row is None:
        return ["TotalSizeInBytes", "ObjectCount"], []
    return ["TotalSizeInBytes", "ObjectCount"], [[row[0], row[1]]]


def get_sop_instance_uids(ctx, params):
    from collections_app.selectors import series_files

    uid = required(params, "SeriesInstanceUID")
    series = series_base(ctx).filter(series_instance_uid=uid.strip()).first()
    if series is None:
        return ["SOPInstanceUID"], []
    return ["SOPInstanceUID"], [[f.sop_instance_uid] for f in series_files(series)]


# ---------------------------------------------------------------- series metadata

METADATA_V4 = ["PatientID", "PatientName", "PatientSex", "EthnicGroup", "Phantom", "SpeciesCode",
               "SpeciesDescription", "StudyInstanceUID", "StudyDate", "StudyDesc", "AdmittingDiagnosisDescription",
               "StudyID", "PatientAge", "LongitudinalTemporalEventType", "LongitudinalTemporalOffsetFromEvent",
               "SeriesInstanceUID", "Collection", "Site", "Modality", "ProtocolName", "SeriesDate",
               "SeriesDescription", "BodyPartExamined", "SeriesNumber", "AnnotationsFlag", "Manufacturer",
               "ManufacturerModelName", "PixelSpacing(mm)-Row", "SliceThickness(mm)", "SoftwareVersions",
               "ImageCount", "MaxSubmissionTimestamp", "LicenseName", "LicenseURI", "DataDescriptionURI",
               "FileSize", "ReleasedStatus", "DateReleased", "ThirdPartyAnalysis", "Authorized"]
METADATA_V1 = ["Series UID", "Collection", "3rd Party Analysis", "Data Description URI", "Subject ID", "Study UID",
               "Study Description", "Study Date", "Series Description", "Manufacturer", "Modality",
               "SOP Class UID", "Number of Images", "File Size", "File Location", "Series Number", "License Name",
               "License URL", "Annotation Size", "Date Released", "Series Date", "Protocol Name",
               "Body Part Examined", "Annotations Flag", "Manufacturer Model Name", "Software Versions",
               "TimeStamp"]
METADATA_FIELDS = SERIES_FIELDS + (
    "subject__ethnic_group", "subject__phantom", "subject__species_code", "subject__species_description",
    "study__study_id", "study__longitudinal_temporal_event_type", "study__longitudinal_temporal_offset_from_event",
    "pixel_spacing_row", "slice_thickness",
)


def series_uid_list(params) -> list[str]:
    values = params.getlist("list") if hasattr(params, "getlist") else [params.get("list", "")]
    uids = []
    for value in values:
        uids += [u.strip() for u in value.split(",") if u.strip()]
    return list(dict.fromkeys(uids))


def get_series_metadata_v4(ctx, params):
    uids = series_uid_list(params)
    if not uids:
        raise ApiError("A parameter, list, is required for this API call.")
    rows = []
    qs = series_base(ctx).filter(series_instance_uid__in=uids).values(*METADATA_FIELDS)
    order = {u: i for i, u in enumerate(uids)}
    for s in sorted(qs, key=lambda r: order.get(r["series_instance_uid"], 0)):
        info = ctx.collections.get(s["collection_id"])
        if info is None:
            continue
        a = _series_row(ctx, s, info)
        a.update({
            "PatientName": s["subject__patient_id"],
            "EthnicGroup": blank(s["subject__ethnic_group"]),
            "Phantom": yes_no(s["subject__phantom"]),
            "SpeciesCode": blank(s["subject__species_code"]),
            "SpeciesDescription": blank(s["subject__species_description"]) or blank(info.species),
            "StudyID": blank(s["study__study_id"]),
            "LongitudinalTemporalEventType": blank(s["study__longitudinal_temporal_event_type"]),
            "LongitudinalTemporalOffsetFromEvent": s["study__longitudinal_temporal_offset_from_event"],
            "PixelSpacing(mm)-Row": s["pixel_spacing_row"],
            "SliceThickness(mm)": s["slice_thickness"],
        })
        rows.append([a[c] for c in METADATA_V4])
    return METADATA_V4, rows


def get_series_metadata_v1(ctx, params):
    uid = required(params, "SeriesInstanceUID").strip()
    qs = series_base(ctx).filter(series_instance_uid=uid)
    s = qs.values(*METADATA_FIELDS).first()
    if s is None or s["collection_id"] not in ctx.collections:
        return METADATA_V1, []
    from collections_app.models import Image

    sop_class = Image.objects.filter(series__series_instance_uid=uid).values_list("sop_class_uid", flat=True).first()
    info = ctx.collections[s["collection_id"]]
    study_date = s["study__study_date"].strftime("%m-%d-%Y") if s["study__study_date"] else None
    row = [
        s["series_instance_uid"], info.name, yes_no(s["third_party_analysis"]), blank(info.doi_url),
        s["subject__patient_id"], s["study__study_instance_uid"], sanitised(s["study__study_description"]),
        study_date, sanitised(s["series_description"]), blank(s["manufacturer"]), blank(s["modality"]),
        blank(sop_class), s["released_image_count"], s["released_bytes"], blank(s["study__study_id"]),
        blank(s["series_number"]), blank(info.license_name), blank(info.license_uri), 0,
        out_date(ctx, s["date_released"]), out_date(ctx, s["series_date"]), blank(s["protocol_name"]),
        blank(s["body_part_examined"]), "true" if s["annotations_flag"] else "false",
        blank(s["manufacturer_model_name"]), blank(s["software_versions"]),
        out_date(ctx, s["max_submission_timestamp"]),
    ]
    return METADATA_V1, [row]


# ---------------------------------------------------------------- counts

def _counts(ctx, params, field, column, mapping, exclude_blank=True):
    qs = restrict(series_catalogue(ctx), ctx, params, mapping)
    if exclude_blank:
        qs = qs.exclude(**{field: ""})
    grouped = qs.values(field, "collection_id").annotate(n=Count("subject_id", distinct=True)).order_by()
    totals: dict = defaultdict(int)
    authorized: dict = defaultdict(int)
    for g in grouped:
        info = ctx.collections.get(g["collection_id"])
        if info is None:
            continue
        key = info.name if field == "collection_id" else g[field]
        totals[key] += g["n"]
        authorized[key] = max(authorized[key], info.authorized)
    rows = [[k, totals[k], authorized[k]] for k in sorted(totals)]
    return [column, "Count", "Authorized"], rows


def get_collection_values_and_counts(ctx, params):
    return _counts(ctx, params, "collection_id", "Collection", {}, exclude_blank=False)


def get_modality_values_and_counts(ctx, params):
    return _counts(ctx, params, "modality", "Modality", {"BodyPartExamined": "body_part_examined"})


def get_body_part_values_and_counts(ctx, params):
    return _counts(ctx, params, "body_part_examined", "BodyPart", {"Modality": "modality"})


def get_manufacturer_values_and_counts(ctx, params):
    return _counts(
        ctx, params, "manufacturer", "Manufacturer", {"Modality": "modality", "BodyPartExamined": "body_part_examined"}
    )


def get_species_values_and_counts(ctx, params):
    return _counts(
        ctx, params, "subject__species_description", "Species",
        {"Modality": "modality", "BodyPartExamined": "body_part_examined"},
    )


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class Endpoint:
    handler: Callable
    params: tuple[str, ...]
    methods: tuple[str, ...] = ("GET",)
    v1_params: tuple[str, ...] | None = None
    default_format: str = "json"
    csv_filename: str | None = None


METADATA_ENDPOINTS: dict[str, Endpoint] = {
    "getCollectionValues": Endpoint(get_collection_values, ()),
    "getModalityValues": Endpoint(get_modality_values, ("Collection", "BodyPartExamined")),
    "getBodyPartValues": Endpoint(get_body_part_values, ("Collection", "Modality")),
    "getManufacturerValues": Endpoint(get_manufacturer_values, ("Collection", "Modality", "BodyPartExamined")),
    "getPatient": Endpoint(get_patient, ("Collection", "PatientId")),
    "getPatientByCollectionAndModality": Endpoint(get_patient_by_collection_and_modality, ("Collection", "Modality")),
    "NewPatientsInCollection": Endpoint(new_patients_in_collection, ("Collection", "fromDate"),
                                        v1_params=("Collection", "Date")),
    "getPatientStudy": Endpoint(get_patient_study, ("Collection", "PatientID", "StudyInstanceUID")),
    "NewStudiesInPatientCollection": Endpoint(new_studies_in_patient_collection,
                                              ("Collection", "PatientID", "fromDate"),
                                              v1_params=("Collection", "PatientID", "Date")),
    "getSeries": Endpoint(get_series, ("Collection", "PatientID", "StudyInstanceUID", "Modality", "BodyPartExamined",
                                       "ManufacturerModelName", "Manufacturer", "SeriesInstanceUID")),
    "getUpdatedSeries": Endpoint(get_updated_series, ("fromDate",)),
    "getSeriesSize": Endpoint(get_series_size, ("SeriesInstanceUID",)),
    "getSOPInstanceUIDs": Endpoint(get_sop_instance_uids, ("SeriesInstanceUID",)),
    "getSeriesMetadata": Endpoint(get_series_metadata_v4, ("list",), methods=("POST", "GET"), default_format="csv",
                                  csv_filename="SeriesMetaData.csv"),
    "getCollectionValuesAndCounts": Endpoint(get_collection_values_and_counts, ()),
    "getModalityValuesAndCounts": Endpoint(get_modality_values_and_counts, ("Collection", "BodyPartExamined")),
    "getBodyPartValuesAndCounts": Endpoint(get_body_part_values_and_counts, ("Collection", "Modality")),
    "getManufacturerValuesAndCounts": Endpoint(get_manufacturer_values_and_counts,
                                               ("Collection", "Modality", "BodyPartExamined")),
    "getSpeciesValuesAndCounts": Endpoint(get_species_values_and_counts,
                                          ("Collection", "Modality", "BodyPartExamined")),
}

# v1/v2 only: the GET metadata with spaced headers.
V1_ONLY_ENDPOINTS: dict[str, Endpoint] = {
    "getSeriesMetaData": Endpoint(get_series_metadata_v1, ("SeriesInstanceUID",)),
}
