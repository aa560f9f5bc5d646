"""The DICOM Metadata Digest: a CSV of a version's index, streamed.

TCIA's collection pages offer a per-series "DICOM Metadata Digest" whose observed columns
are the first ten below. This archive also offers one row per image (the design is ours):
the same ten columns, then what lets a reader check a file — SOP Instance UID, Instance
Number, size and sha256 — all from the frozen manifest of the version, never from DICOM files.

Rows are produced from `.iterator()` queries and written in blocks, so memory stays flat and
the per-series facts are looked up once per series.
"""
import csv
import io

from django.db.models import OuterRef, Subquery

from ..models import CollectionVersion, Image, Series, VersionEntry

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


def _series_facts(version: CollectionVersion) -> dict[int, list[str]]:
    """series id → the BASE_COLUMNS values plus study UID, series number, body part."""
    name = version.collection.short_name
    qs = Series.objects.filter(pk__in=VersionEntry.objects.filter(version=version).values("series_id")).values_list(
        "id", "subject__patient_id", "study__study_date", "study__study_description", "modality", "series_description",
        "manufacturer", "manufacturer_model_name", "software_versions", "series_instance_uid",
        "study__study_instance_uid", "series_number", "body_part_examined",
    )
    out = {}
    for sid, pid, sdate, sdesc, mod, serdesc, manu, model, soft, seruid, studyuid, sernum, body in qs.iterator(chunk_size=BLOCK):
        out[sid] = [name, pid, sdate.isoformat() if sdate else "", sdesc, mod, serdesc, manu, model, soft, seruid, studyuid, sernum, body]
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


def image_rows(version: CollectionVersion):
    facts = _series_facts(version)
    instance = Image.objects.filter(series_id=OuterRef("series_id"), sop_instance_uid=OuterRef("sop_instance_uid"))
    entries = (
        VersionEntry.objects.filter(version=version)
        .annotate(
            instance_number=Subquery(instance.values("instance_number")[:1]),
            sop_class_uid=Subquery(instance.values("sop_class_uid")[:1]),
        )
        .order_by("series_id", "sop_instance_uid")
        .values_list("series_id", "sop_instance_uid", "sop_class_uid", "instance_number", "stored_file__size", "stored_file__sha256")
    )
    number = str(version.number)
    for series_id, sop, sop_class, inst, size, sha in entries.iterator(chunk_size=BLOCK):
        f = facts[series_id]
        yield f + [sop, sop_class or "", "" if inst is None else inst, size, sha, number]


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
        yield facts[sid] + [row["n"], row["size"] or 0, when.date().isoformat() if when else "", number]


def image_csv(version: CollectionVersion):
    """Yield the per-image digest as CSV text blocks."""
    return _blocks(IMAGE_COLUMNS, image_rows(version))


def series_csv(version: CollectionVersion):
    return _blocks(SERIES_COLUMNS, series_rows(version))


def filename(version: CollectionVersion, per: str = "image") -> str:
    suffix = "_MetaData" if per == "series" else "_ImageMetaData"
    return f"{version.collection.short_name}_v{version.number}{suffix}.csv"
