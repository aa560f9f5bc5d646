"""Putting a (de-identified) DICOM dataset into the imaging index.

Called once per stored file by intake and by the demo loader. It reads attributes from the
dataset that was already parsed, so no file is opened twice.
"""
import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import BigIntegerField, Case, F, IntegerField, Value, When
from django.utils import timezone
from pydicom.multival import MultiValue

from curation.deid.rawvalue import get as _get

from ..models import Collection, Image, Series, StoredFile, Study, Subject


class IndexError_(ValueError):
    """A dataset lacks what the index needs (named in the message)."""


class OwnedElsewhere(IndexError_):
    """A UID of the dataset already belongs to another collection. Each collection owns its
    subjects, studies, series and images: nothing is ever filed into another collection's rows."""

    def __init__(self, attribute: str, owner: Collection):
        self.attribute, self.owner = attribute, owner
        super().__init__(
            f"its {attribute} already belongs to collection '{owner.title}', and a collection's objects are its own: "
            "not filed. Remap UIDs for this submission (turn off the 'retain UIDs' option), or send the file to that collection."
        )


def check_owner(row, attribute: str, collection: Collection):
    if row.collection_id != collection.pk:
        raise OwnedElsewhere(attribute, Collection.objects.only("title").get(pk=row.collection_id))


def _text(ds, keyword: str, limit: int) -> str:
    value = _get(ds, keyword)
    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple, MultiValue)):  # several values: as DICOM writes them
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _date(ds, keyword: str):
    value = _get(ds, keyword)
    if not value:
        return None
    value = str(value).strip()
    try:
        return dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        return None


def _int(ds, keyword: str):
    value = _get(ds, keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value):
    if isinstance(value, (list, tuple, MultiValue)):  # several values where one was expected: the first
        value = value[0] if value else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _several(value) -> list:
    """A multi-valued attribute's values as a list (one value: a list of one; none: empty)."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


@dataclass
class IndexResult:
    image: Image
    created: bool


def _subject_defaults(collection: Collection, ds) -> dict:
    return {
        "patient_sex": _text(ds, "PatientSex", 16),
        "ethnic_group": _text(ds, "EthnicGroup", 64),
        "phantom": collection.species.lower() == "phantom",
        "species_description": collection.species,
    }


def _study_defaults(ds) -> dict:
    return {
        "study_date": _date(ds, "StudyDate"),
        "study_description": _text(ds, "StudyDescription", 200),
        "study_id": _text(ds, "StudyID", 16),
        "patient_age": _text(ds, "PatientAge", 8),
        "admitting_diagnoses_description": _text(ds, "AdmittingDiagnosesDescription", 200),
    }


def _series_defaults(ds) -> dict:
    pixel_spacing = _several(_get(ds, "PixelSpacing"))
    modality = _text(ds, "Modality", 16)
    return {
        "modality": modality,
        "body_part_examined": _text(ds, "BodyPartExamined", 64),
        "manufacturer": _text(ds, "Manufacturer", 64),
        "manufacturer_model_name": _text(ds, "ManufacturerModelName", 64),
        "software_versions": _text(ds, "SoftwareVersions", 128),
        "protocol_name": _text(ds, "ProtocolName", 128),
        "series_date": _date(ds, "SeriesDate"),
        "series_number": _text(ds, "SeriesNumber", 16),
        "series_description": _text(ds, "SeriesDescription", 200),
        "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID", 64),
        "pixel_spacing_row": _float(pixel_spacing[0]) if pixel_spacing else None,
        "slice_thickness": _float(_get(ds, "SliceThickness")),
        "annotations_flag": modality in {"RTSTRUCT", "SEG", "SR", "PR"},
    }


def _image_fields(ds, stored_file: StoredFile) -> dict:
    position = _several(_get(ds, "ImagePositionPatient"))
    return {
        "sop_instance_uid": str(_get(ds, "SOPInstanceUID")).strip(),
        "sop_class_uid": _text(ds, "SOPClassUID", 64),
        "instance_number": _int(ds, "InstanceNumber"),
        "acquisition_number": _int(ds, "AcquisitionNumber"),
        "stored_file": stored_file,
        "file_size": stored_file.size,
        "transfer_syntax_uid": str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
        "rows": _int(ds, "Rows"),
        "columns": _int(ds, "Columns"),
        "number_of_frames": _int(ds, "NumberOfFrames") or 1,
        "photometric_interpretation": _text(ds, "PhotometricInterpretation", 16),
        "image_position_patient": "\\".join(f"{float(v):g}" for v in position) if position else "",
        "slice_location": _float(_get(ds, "SliceLocation")),
    }


def _check_required(ds) -> str:
    for keyword in REQUIRED_UIDS:
        if not str(_get(ds, keyword, "") or "").strip():
            raise IndexError_(f"missing required attribute {keyword}")
    patient_id = _text(ds, "PatientID", 64)
    if not patient_id:
        raise IndexError_("missing required attribute PatientID")
    return patient_id


def _series_for(collection: Collection, ds, patient_id: str) -> Series:
    subject, _ = Subject.objects.get_or_create(collection=collection, patient_id=patient_id,
                                               defaults=_subject_defaults(collection, ds))
    study, _ = Study.objects.get_or_create(
        study_instance_uid=str(_get(ds, "StudyInstanceUID")).strip(),
        defaults={"collection": collection, "subject": subject, **_study_defaults(ds)},
    )
    check_owner(study, "StudyInstanceUID", collection)
    series, _ = Series.objects.get_or_create(
        series_instance_uid=str(_get(ds, "SeriesInstanceUID")).strip(),
        defaults={"collection": collection, "subject": subject, "study": study, **_series_defaults(ds)},
    )
    check_owner(series, "SeriesInstanceUID", collection)
    return series


def index_dataset(*, collection: Collection, ds, stored_file: StoredFile, now=None, cache: dict | None = None) -> IndexResult:
    """Create or find Subject/Study/Series/Image for `ds`, whose bytes are `stored_file`.

    Lookups are scoped to `collection`: a study, series or image UID that another collection
    holds raises OwnedElsewhere. Re-indexing the SOP Instance UID of an image the collection
    holds returns that image (created=False) whatever the bytes: intake decides before calling
    whether other bytes are the same content or a conflict (kept beside, never a second row).
    `cache` (a dict the caller keeps for one batch) remembers the series rows already found,
    which saves three queries for every image after the first of a series.
    """
    patient_id = _check_required(ds)
    now = now or timezone.now()
    sop_uid = str(_get(ds, "SOPInstanceUID")).strip()
    series_uid = str(_get(ds, "SeriesInstanceUID")).strip()
    with transaction.atomic():
        cached = cache.get(series_uid) if cache is not None else None
        if cached is not None:
            series = cached
        else:
            series = _series_for(collection, ds, patient_id)
            if cache is not None:
                cache[series_uid] = series
        for existing in Image.objects.filter(sop_instance_uid=sop_uid):
            check_owner(existing, "SOPInstanceUID", collection)
            return IndexResult(existing, False)
        image = Image.objects.create(collection=collection, series=series, **_image_fields(ds, stored_file))
        Series.objects.filter(pk=series.pk).update(
            image_count=F("image_count") + 1,
            total_bytes=F("total_bytes") + stored_file.size,
            max_submission_timestamp=now,
        )
    return IndexResult(image, True)


def _get_or_create_many(model, key: str, wanted: dict, scope: dict, make) -> dict:
    """key value → row for every value in `wanted` (value → a dataset that has it): one SELECT for
    what exists, one INSERT for what does not (a row another process inserted meanwhile is
    skipped, then read), one more SELECT for what was inserted."""
    found = {getattr(r, key): r for r in model.objects.filter(**scope, **{f"{key}__in": list(wanted)})}
    missing = [v for v in wanted if v not in found]
    if missing:
        model.objects.bulk_create([make(v, wanted[v]) for v in missing], ignore_conflicts=True)
        found.update({getattr(r, key): r for r in model.objects.filter(**scope, **{f"{key}__in": missing})})
    return found


def index_many(*, collection: Collection, entries: list, now=None, cache: dict | None = None) -> list[Image]:
    """index_dataset for many new instances at once, in a constant number of statements: one
    SELECT and at most one INSERT for subjects, studies and series each (fewer when `cache`
    knows the series), one INSERT of all images, one UPDATE per series touched. `entries`:
    (dataset, stored_file) pairs of SOP Instance UIDs that no collection holds yet (the caller
    checked); a UID inserted meanwhile by another process raises IntegrityError, and the caller
    takes the files one at a time. Returns the images, in order, each with its series set."""
    now = now or timezone.now()
    cache = cache if cache is not None else {}
    keyed = [(ds, stored, _check_required(ds), str(_get(ds, "StudyInstanceUID")).strip(), str(_get(ds, "SeriesInstanceUID")).strip())
             for ds, stored in entries]
    with transaction.atomic():
        uncached = [k for k in keyed if k[4] not in cache]
        if uncached:
            subjects = _get_or_create_many(
                Subject, "patient_id", {k[2]: k[0] for k in reversed(uncached)}, {"collection": collection},
                lambda pid, ds: Subject(collection=collection, patient_id=pid, **_subject_defaults(collection, ds)))
            studies = _get_or_create_many(
                Study, "study_instance_uid", {k[3]: k for k in reversed(uncached)}, {},
                lambda uid, k: Study(collection=collection, subject=subjects[k[2]], study_instance_uid=uid,
                                     **_study_defaults(k[0])))
            for study in studies.values():
                check_owner(study, "StudyInstanceUID", collection)
            series_rows = _get_or_create_many(
                Series, "series_instance_uid", {k[4]: k for k in reversed(uncached)}, {},
                lambda uid, k: Series(collection=collection, subject=subjects[k[2]], study=studies[k[3]],
                                      series_instance_uid=uid, **_series_defaults(k[0])))
            for series in series_rows.values():
                check_owner(series, "SeriesInstanceUID", collection)
            cache.update(series_rows)
        images = [Image(collection=collection, series=cache[k[4]], **_image_fields(k[0], k[1])) for k in keyed]
        Image.objects.bulk_create(images)
        totals: dict = {}
        for image in images:
            count, size = totals.get(image.series_id, (0, 0))
            totals[image.series_id] = (count + 1, size + image.file_size)
        _add_to_series(totals, now)
    return images


def _add_to_series(totals: dict, now) -> None:
    """image_count and total_bytes += each series' (count, bytes) in `totals`: one UPDATE per 100
    series (a CASE per column), not one per series."""
    ids = sorted(totals)
    for start in range(0, len(ids), 100):
        part = ids[start:start + 100]
        counts = Case(*[When(pk=i, then=Value(totals[i][0])) for i in part], output_field=IntegerField())
        sizes = Case(*[When(pk=i, then=Value(totals[i][1])) for i in part], output_field=BigIntegerField())
        Series.objects.filter(pk__in=part).update(image_count=F("image_count") + counts,
                                                  total_bytes=F("total_bytes") + sizes, max_submission_timestamp=now)


def replace_image_file(*, image: Image, stored_file: StoredFile) -> Image:
    """Point an image at new bytes (a correction), keeping the series totals right."""
    delta = stored_file.size - image.file_size
    with transaction.atomic():
        Image.objects.filter(pk=image.pk).update(stored_file=stored_file, file_size=stored_file.size)
        Series.objects.filter(pk=image.series_id).update(total_bytes=F("total_bytes") + delta)
    image.refresh_from_db()
    return image


SERIES_FIELDS = {
    "modality": ("Modality", 16), "body_part_examined": ("BodyPartExamined", 64), "manufacturer": ("Manufacturer", 64),
    "manufacturer_model_name": ("ManufacturerModelName", 64), "software_versions": ("SoftwareVersions", 128),
    "protocol_name": ("ProtocolName", 128), "series_number": ("SeriesNumber", 16),
    "series_description": ("SeriesDescription", 200), "frame_of_reference_uid": ("FrameOfReferenceUID", 64),
}
STUDY_FIELDS = {
    "study_description": ("StudyDescription", 200), "study_id": ("StudyID", 16), "patient_age": ("PatientAge", 8),
}


def reindex_image(*, image: Image, ds, stored_file: StoredFile) -> Image:
    """After a correction: point `image` at `stored_file` (whose dataset is `ds`) and bring the
    index in line with it. An image whose patient, study or series UID changed moves to the
    matching rows (created when needed); emptied series keep existing with zero images."""
    with transaction.atomic():
        image = Image.objects.select_for_update().select_related("series__study__subject").get(pk=image.pk)
        collection = image.series.collection
        old_series = image.series
        patient_id = _text(ds, "PatientID", 64)
        study_uid = str(ds.get("StudyInstanceUID", "")).strip()
        series_uid = str(ds.get("SeriesInstanceUID", "")).strip()
        if (patient_id, study_uid, series_uid) != (
            old_series.subject.patient_id, old_series.study.study_instance_uid, old_series.series_instance_uid
        ):
            subject, _ = Subject.objects.get_or_create(collection=collection, patient_id=patient_id)
            study, _ = Study.objects.get_or_create(study_instance_uid=study_uid, defaults={"collection": collection, "subject": subject})
            check_owner(study, "StudyInstanceUID", collection)
            if study.subject_id != subject.pk:
                Study.objects.filter(pk=study.pk).update(subject=subject)
            series, _ = Series.objects.get_or_create(
                series_instance_uid=series_uid, defaults={"collection": collection, "subject": subject, "study": study}
            )
            check_owner(series, "SeriesInstanceUID", collection)
            if (series.study_id, series.subject_id) != (study.pk, subject.pk):
                Series.objects.filter(pk=series.pk).update(study=study, subject=subject)
            Series.objects.filter(pk=old_series.pk).update(
                image_count=F("image_count") - 1, total_bytes=F("total_bytes") - image.file_size
            )
            Series.objects.filter(pk=series.pk).update(
                image_count=F("image_count") + 1, total_bytes=F("total_bytes") + stored_file.size
            )
        else:
            series = old_series
            Series.objects.filter(pk=series.pk).update(total_bytes=F("total_bytes") + stored_file.size - image.file_size)
        sop_uid = str(ds.get("SOPInstanceUID", image.sop_instance_uid)).strip()
        if sop_uid != image.sop_instance_uid:
            for other in Image.objects.filter(sop_instance_uid=sop_uid).exclude(collection=collection):
                check_owner(other, "SOPInstanceUID", collection)
        Image.objects.filter(pk=image.pk).update(
            series=series,
            stored_file=stored_file,
            file_size=stored_file.size,
            sop_instance_uid=sop_uid,
            instance_number=_int(ds, "InstanceNumber"),
            acquisition_number=_int(ds, "AcquisitionNumber"),
            transfer_syntax_uid=str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
        )
        series_updates = {field: _text(ds, kw, limit) for field, (kw, limit) in SERIES_FIELDS.items()}
        series_updates["series_date"] = _date(ds, "SeriesDate")
        Series.objects.filter(pk=series.pk).update(**series_updates)
        study_updates = {field: _text(ds, kw, limit) for field, (kw, limit) in STUDY_FIELDS.items()}
        study_updates["study_date"] = _date(ds, "StudyDate")
        Study.objects.filter(pk=series.study_id).update(**study_updates)
        Subject.objects.filter(pk=series.subject_id).update(patient_sex=_text(ds, "PatientSex", 16))
    image.refresh_from_db()
    return image
