"""Creating submissions and editing their subject maps."""
import csv
import io
import random
import re

from django.db import transaction

from collections_app.models import Collection, Status
from curation.deid.profile import OPTIONS, TCIA_DEFAULT_OPTIONS
from tcia.core.audit import log

from ..models import SubjectMapping, Submission, original_key


def default_ae_title(collection: Collection) -> str:
    base = re.sub(r"[^A-Z0-9_]", "_", collection.subject_prefix.upper())[:16] or "TCIA"
    title = base
    n = 1
    while Submission.objects.filter(ae_title=title).exists():
        n += 1
        suffix = f"_{n}"
        title = base[: 16 - len(suffix)] + suffix
    return title


@transaction.atomic
def create_submission(*, collection: Collection, actor=None, options=None, promised_subjects=None,
                      promised_series=None, start_curation: bool = True) -> Submission:
    options = list(options or TCIA_DEFAULT_OPTIONS)
    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown de-identification options: {', '.join(unknown)}")
    submission = Submission.objects.create(
        collection=collection,
        ae_title=default_ae_title(collection),
        deid_options=options,
        promised_subjects=promised_subjects,
        promised_series=promised_series,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if start_curation and collection.status == Status.DRAFT:
        Collection.objects.filter(pk=collection.pk).update(status=Status.IN_CURATION)
    log("submission.create", actor=actor, obj=submission, options=options)
    return submission


class SubjectMapError(ValueError):
    pass


@transaction.atomic
def import_subject_map(*, submission: Submission, text: str, actor) -> int:
    """CSV with columns original_patient_id, subject_id[, date_offset_days]. Only keyed hashes
    of the original IDs are stored. Rows for patients not yet received are kept for later."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "original_patient_id" not in reader.fieldnames or "subject_id" not in reader.fieldnames:
        raise SubjectMapError("the CSV needs the columns original_patient_id and subject_id (date_offset_days optional)")
    count = 0
    rng = random.SystemRandom()
    for line, row in enumerate(reader, start=2):
        original = (row.get("original_patient_id") or "").strip()
        subject_id = (row.get("subject_id") or "").strip()
        if not original or not subject_id:
            raise SubjectMapError(f"line {line}: original_patient_id and subject_id must both be filled")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", subject_id):
            raise SubjectMapError(f"line {line}: subject_id {subject_id!r} may hold letters, digits, '.', '-' and '_' only")
        offset_text = (row.get("date_offset_days") or "").strip()
        try:
            offset = int(offset_text) if offset_text else None
        except ValueError:
            raise SubjectMapError(f"line {line}: date_offset_days {offset_text!r} is not a whole number") from None
        key = original_key(original)
        clash = SubjectMapping.objects.filter(submission=submission, subject_id=subject_id).exclude(original_key=key)
        if clash.exists():
            raise SubjectMapError(f"line {line}: subject_id {subject_id} is already used for another patient")
        existing = SubjectMapping.objects.filter(submission=submission, original_key=key).first()
        if existing:
            existing.subject_id = subject_id
            if offset is not None:
                existing.date_offset_days = offset
            existing.save(update_fields=["subject_id", "date_offset_days"])
        else:
            SubjectMapping.objects.create(
                submission=submission, original_key=key, subject_id=subject_id,
                date_offset_days=offset if offset is not None else rng.randint(submission.date_offset_min, submission.date_offset_max),
            )
        count += 1
    log("submission.subject_map_import", actor=actor, obj=submission, rows=count)
    return count


@transaction.atomic
def rename_subject(*, mapping: SubjectMapping, subject_id: str, actor, reason: str = "") -> SubjectMapping:
    if SubjectMapping.objects.filter(submission=mapping.submission, subject_id=subject_id).exclude(pk=mapping.pk).exists():
        raise SubjectMapError(f"subject_id {subject_id} is already used")
    old = mapping.subject_id
    mapping.subject_id = subject_id
    mapping.save(update_fields=["subject_id"])
    log("submission.subject_rename", actor=actor, obj=mapping.submission, reason=reason, old=old, new=subject_id)
    return mapping
