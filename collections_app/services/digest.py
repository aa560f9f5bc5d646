"""The DICOM Metadata Digest: a CSV of a version's index, streamed.

TCIA's collection pages offer a per-series "DICOM Metadata Digest" whose observed columns
are the first ten below. Dates are written as NBIA writes them (MM-dd-yyyy), as in the
downloads' metadata.csv. This archive also offers one row per image (the design is ours):
the same ten columns, then what lets a reader check a file — SOP Instance UID, Instance
Number, size and sha256 — all from the frozen manifest of the version, never from DICOM files.

Rows are produced from `.iterator()` queries and written in blocks, so memory stays flat and
the per-series facts are looked up once per series.
"""
import csv
import io
import re

from django.db import connection

from ..models import CollectionVersion, Series, StoredFile, VersionEntry, VersionSeries

BASE_COLUMNS = [
    "Collection", "Patient Id", "Study Date", "Study Description", "Modality", "Series Description",
    "Manufacturer", "Manufacturer Model", "Software Version", "Series UID",
]
IMAGE_COLUMNS = BASE_COLUMNS + [
    "Study UID", "Series Number", "Body Part Examined", "SOP Instance UID", "SOP Class UID", "Instance Number",
    "File Size", "SHA256", "Version",
]
SERIES_COLUMNS = BASE_COLUMNS + [
    "Study UID", "Series Number", "Body Part Examined", "Number of Images", "File Size", "Date Released", "Version",
]
BLOCK = 2000


def nbia_date(value) -> str:
    """Dates as NBIA writes them (v4 API, metadata.csv): MM-dd-yyyy; "" when unknown."""
    if value is None:
        return ""
    if hasattr(value, "hour"):
        from django.utils import timezone

        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.strftime("%m-%d-%Y")


def _series_facts(version: CollectionVersion) -> dict[int, list[str]]:
    """series id → the BASE_COLUMNS values plus study UID, series number, body part."""
    # From the version's frozen series descriptions, so a later correction never changes it.
    qs = VersionSeries.objects.filter(version=version).values_list(
        "series_id", "collection_short_name", "patient_id", "study_date", "study_description", "modality", "series_description",
        "manufacturer", "manufacturer_model_name", "software_versions", "series_instance_uid",
        "study_instance_uid", "series_number", "body_part_examined",
    )
    out = {}
    for sid, name, pid, sdate, sdesc, mod, serdesc, manu, model, soft, seruid, studyuid, sernum, body in qs.iterator(chunk_size=BLOCK):
        out[sid] = [name, pid, nbia_date(sdate), sdesc, mod, serdesc, manu, model, soft, seruid, studyuid, sernum, body]
    return out


def _blocks(header: list[str], rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
        if n % BLOCK == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue()


def _image_sql() -> str:
    q = connection.ops.quote_name
    ve, sf = VersionEntry._meta.db_table, StoredFile._meta.db_table
    return (
        f"SELECT ve.series_id, ve.sop_instance_uid, sf.size, sf.sha256, ve.sop_class_uid, ve.instance_number "
        f"FROM {q(ve)} ve JOIN {q(sf)} sf ON sf.id = ve.stored_file_id "
        f"WHERE ve.version_id = %s ORDER BY ve.series_id, ve.sop_instance_uid"
    )


def image_rows(version: CollectionVersion):
    """One row per manifest entry in one streamed query (a server-side cursor on PostgreSQL).

    The index fields of each series are looked up once (`_series_facts`); a per-row ORM
    subquery or model instances would cost several times more."""
    facts = _series_facts(version)
    number = str(version.number)
    with connection.cursor() as cursor:
        cursor.execute(_image_sql(), [version.pk])
        while True:
            block = cursor.fetchmany(BLOCK)
            if not block:
                break
            for series_id, sop, size, sha, cls, inst in block:
                yield facts[series_id] + [sop, cls or "", "" if inst is None else inst, size, sha, number]


_SAFE = re.compile(r"^[0-9.]*$")


def _image_csv_fast(version: CollectionVersion):
    """image_rows rendered as CSV text: each series' constant columns are quoted once by the csv
    module; the per-image tail (UIDs, integers, hex) needs no quoting, so it is joined directly.
    Anything unexpected in a UID falls back to the csv module for that row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def render(row):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        return buf.getvalue()

    facts = _series_facts(version)
    prefixes = {sid: render(values)[:-2] for sid, values in facts.items()}
    number = str(version.number)
    yield render(IMAGE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(_image_sql(), [version.pk])
        while True:
            block = cursor.fetchmany(BLOCK)
            if not block:
                break
            out = []
            for series_id, sop, size, sha, cls, inst in block:
                cls = cls or ""
                if _SAFE.match(sop) and _SAFE.match(cls):
                    out.append(f"{prefixes[series_id]},{sop},{cls},{'' if inst is None else inst},{size},{sha},{number}\r\n")
                else:
                    out.append(render(facts[series_id] + [sop, cls, "" if inst is None else inst, size, sha, number]))
            yield "".join(out)


def series_rows(version: CollectionVersion):
    from django.db.models import Count, Sum

    facts = _series_facts(version)
    released = dict(Series.objects.filter(pk__in=list(facts)).values_list("id", "date_released"))
    agg = (
        VersionEntry.objects.filter(version=version).values("series_id")
        .annotate(n=Count("id"), size=Sum("stored_file__size")).order_by("series_id")
    )
    number = str(version.number)
    for row in agg.iterator(chunk_size=BLOCK):
        sid = row["series_id"]
        when = released.get(sid)
        yield facts[sid] + [row["n"], row["size"] or 0, nbia_date(when), number]


def image_csv(version: CollectionVersion):
    """Yield the per-image digest as CSV text blocks (the same text as writing image_rows with csv)."""
    return _image_csv_fast(version)


def series_csv(version: CollectionVersion):
    return _blocks(SERIES_COLUMNS, series_rows(version))


def filename(version: CollectionVersion, per: str = "image") -> str:
    suffix = "_MetaData" if per == "series" else "_ImageMetaData"
    return f"{version.collection.short_name}_v{version.number}{suffix}.csv"
