"""Attaching supporting files, linking them to the images, and rewriting tables.

Every change of a file's bytes is a new immutable StoredFile and a Revision saying what
changed (columns and cell counts, never values), with an audit event. Findings go to the
collection's findings list (curation.checks.Finding, check "supporting_links"): unknown
subjects, subjects without images, images without a row, dangling or cross-subject annotation
references. Original subject IDs are never stored: they are matched through the subject map's
keyed hashes and replaced by the published IDs before the table is stored.
"""
import hashlib
import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from collections_app.models import Collection, Image, Series, Subject
from collections_app.services.storage import store_bytes
from curation.models import SubjectMapping, Submission, original_key
from tcia.core.audit import log

from . import annotations, describe, tables
from .models import TABLE_KINDS, ColumnReview, Disposition, Kind, Revision, SupportingFile

CHECK = "supporting_links"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]{0,199}$")
MAX_FINDINGS_PER_KIND = 200


class AttachError(ValueError):
    pass


# Subjects ---------------------------------------------------------------------------------------


class SubjectIndex:
    """The collection's subjects: published IDs, the subject map's keyed hashes and offsets,
    and which subjects have images."""

    def __init__(self, collection: Collection):
        self.collection = collection
        self.submission = Submission.objects.filter(collection=collection).first()
        maps = list(SubjectMapping.objects.filter(submission=self.submission)) if self.submission else []
        self.by_key = {m.original_key: m.subject_id for m in maps}
        self.offsets = {m.subject_id: m.date_offset_days for m in maps}
        self.subjects = dict(Subject.objects.filter(collection=collection).values_list("patient_id", "pk"))
        self.with_images = set(
            Series.objects.filter(collection=collection, images__isnull=False)
            .values_list("subject__patient_id", flat=True).distinct())
        self.known = set(self.subjects) | set(self.offsets)

    def resolve(self, value: str) -> str | None:
        """The published subject ID a table value stands for, or None."""
        v = value.strip()
        if not v:
            return None
        if v in self.known:
            return v
        return self.by_key.get(original_key(v)) if self.by_key else None


def _hidden(value: str) -> str:
    """How a finding names a value it must not show: a short keyed hash."""
    return original_key(value)[:12]


def keyed_hash(value: str) -> str:
    """The 'hash' disposition: a keyed hash, stable within the archive, not the subject map's."""
    return original_key("supporting-hash:" + value)[:16] if value.strip() else value


# Attaching ----------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not NAME_RE.match(base) or base in (".", ".."):
        raise AttachError(f"{name!r}: a file name of letters, digits, spaces and . _ ( ) + - (at most 200 characters)")
    return base


def _prepare(collection, name: str, data: bytes, kind: str, subject_column: str, index: SubjectIndex):
    """(bytes to store, content type, info, changes) for a received file of `kind`."""
    info: dict = {"warnings": []}
    changes: list[dict] = []
    if kind in TABLE_KINDS:
        fmt = tables.format_for(name, data)
        if fmt is None:
            raise AttachError(f"{name}: a table must be a .csv, .tsv or .xlsx file")
        try:
            header, rows = tables.read(data, fmt, name)
        except tables.TableError as exc:
            raise AttachError(str(exc)) from None
        column = subject_column or tables.detect_subject_column(header)
        if subject_column and subject_column not in header:
            raise AttachError(f"{name}: no column {subject_column!r} (columns: {', '.join(header[:20])})")
        data, mapped = _map_subjects(data, fmt, column, index, name)
        if mapped:
            changes.append({"what": "subject IDs mapped to the published IDs", "column": column, "cells": mapped})
        info.update(format=fmt, rows=len(rows), columns=header, subject_column=column)
        if not column:
            info["warnings"].append("No subject column found (PatientID, Subject, Case…): choose one to link the rows.")
        return data, describe.CONTENT_TYPES[fmt], info, changes
    if kind == Kind.ANNOTATION:
        try:
            reading = annotations.parse(data, name)
        except annotations.AnnotationError as exc:
            raise AttachError(str(exc)) from None
        mapping = _uid_mapping(collection, [reading.series_uid, reading.study_uid, *reading.sop_uids])
        try:
            data, remapped = annotations.rewrite_uids(data, mapping)
        except UnicodeDecodeError:
            raise AttachError(f"{name}: the XML is not UTF-8") from None
        if remapped:
            changes.append({"what": "UIDs rewritten to the de-identified UIDs", "cells": remapped})
        info.update(format="lidc-xml", sessions=reading.sessions, nodules=reading.nodules,
                    non_nodules=reading.non_nodules, references=len(set(reading.sop_uids)))
        return data, "application/xml", info, changes
    if kind == Kind.PATHOLOGY:
        try:
            info.update(describe.slide_info(data, name))
        except describe.DescribeError as exc:
            raise AttachError(str(exc)) from None
        return data, "image/tiff", info, changes
    if kind == Kind.DOCUMENT:
        try:
            content_type, found = describe.document_info(data, name)
        except describe.DescribeError as exc:
            raise AttachError(str(exc)) from None
        info.update(found)
        return data, content_type, info, changes
    info["warnings"].append("Opaque file: not parsed, linked or checked for PHI. Describe what it holds.")
    return data, describe.guess_type(name), info, changes


def _map_subjects(data: bytes, fmt: str, column: str, index: SubjectIndex, name: str) -> tuple[bytes, int]:
    if not column:
        return data, 0

    def edit(col, _row, value):
        if col != column:
            return value
        found = index.resolve(value)
        return found if found is not None else value

    new, changed = tables.rewrite(data, fmt, edit, name=name)
    n = changed.get(column, 0)
    return (new, n) if n else (data, 0)


def _uid_mapping(collection: Collection, uids: list[str]) -> dict[str, str]:
    """Original UID → the collection's remapped UID, for UIDs that are not already images,
    series or studies of the collection (an annotation made on the published data keeps its UIDs)."""
    from curation.deid.uids import UIDRemapper

    wanted = {u for u in uids if u}
    present = set(Image.objects.filter(collection=collection, sop_instance_uid__in=wanted).values_list("sop_instance_uid", flat=True))
    present |= set(Series.objects.filter(collection=collection, series_instance_uid__in=wanted).values_list("series_instance_uid", flat=True))
    present |= set(collection.studies.filter(study_instance_uid__in=wanted).values_list("study_instance_uid", flat=True))
    secret = settings.TCIA_DEID_SECRET
    remap = UIDRemapper(settings.TCIA_UID_ROOT, secret.encode() if isinstance(secret, str) else secret,
                        namespace=collection.uid_namespace)
    return {u: remap(u) for u in wanted - present}


@transaction.atomic
def attach(collection: Collection, *, name: str, data: bytes, kind: str = "", description: str = "",
           subject_column: str = "", actor=None, replace: bool = False) -> SupportingFile:
    """Store a supporting file of `collection` (a new revision of the file of that name with
    replace=True), link it to the images and record its findings."""
    name = _clean_name(name)
    if not data:
        raise AttachError(f"{name}: the file is empty")
    kind = kind or describe.detect_kind(name, data)
    if kind not in Kind.values:
        raise AttachError(f"{name}: unknown kind {kind!r} (one of {', '.join(Kind.values)})")
    existing = SupportingFile.objects.filter(collection=collection, name=name).first()
    if existing is not None and not replace:
        raise AttachError(f"{name}: the collection already has a supporting file of this name (replace it instead)")
    received = hashlib.sha256(data).hexdigest()
    index = SubjectIndex(collection)
    stored_bytes, content_type, info, changes = _prepare(collection, name, data, kind, subject_column, index)
    stored = store_bytes(stored_bytes, content_type=content_type)
    if existing is None:
        sf = SupportingFile.objects.create(
            collection=collection, name=name, kind=kind, description=description[:300], stored_file=stored,
            content_type=content_type, subject_column=info.get("subject_column", ""), info=info, created_by=_user(actor))
        previous = None
    else:
        sf, previous = existing, existing.stored_file
        sf.kind, sf.stored_file, sf.content_type, sf.info, sf.detached_at = kind, stored, content_type, info, None
        sf.subject_column = info.get("subject_column", "")
        if description:
            sf.description = description[:300]
        sf.save()
        sf.columns.all().delete()  # new bytes: the columns are reviewed again
    _revision(sf, stored, previous, actor, reason="received" if previous is None else "replaced by a new upload",
              changes=changes, received=received)
    if sf.is_table:
        refresh_columns(sf)
    check(sf)
    if sf.is_table:
        phi_changed(sf, "a supporting table was attached" if previous is None else "a supporting table was replaced")
    log("supporting.attach", actor=actor, obj=sf, collection=collection.slug, kind=kind, sha256=stored.sha256,
        received_sha256=received, size=stored.size, replaced=previous is not None, changes=changes)
    return sf


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _revision(sf, stored, previous, actor, *, reason, changes, received="") -> Revision:
    number = (sf.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    return Revision.objects.create(supporting_file=sf, number=number, stored_file=stored, previous=previous,
                                   received_sha256=received, reason=reason, changes=changes, actor=_user(actor))


def read_table(sf: SupportingFile) -> tuple[list[str], list[list[str]]]:
    with sf.stored_file.open() as fh:
        data = fh.read()
    return tables.read(data, sf.info.get("format", "csv"), sf.name)


def column_profile(sf: SupportingFile) -> list[tables.ColumnProfile]:
    header, rows = read_table(sf)
    return tables.profile(header, rows, subject_column=sf.subject_column)


def refresh_columns(sf: SupportingFile) -> None:
    """Record the profiler's flags per column (no values): flagged columns need a disposition."""
    reviews = {r.column: r for r in sf.columns.all()}
    for p in column_profile(sf):
        review = reviews.get(p.column)
        if review is None and p.flags:
            ColumnReview.objects.create(supporting_file=sf, column=p.column, flags=p.flags)
        elif review is not None and review.flags != p.flags and review.disposition != Disposition.REMOVE:
            ColumnReview.objects.filter(pk=review.pk).update(flags=p.flags)


def phi_changed(sf: SupportingFile, what: str) -> None:
    """The PHI report's supporting-data section changed: a sign-off made before no longer holds."""
    from curation.phi.report import note_change

    note_change(sf.collection_id, f"{what} ({sf.name})")


def phi_section(collection: Collection):
    """The PHI report's "Supporting data" section: every column of every attached table, its
    type, how many unique values, what the heuristics flagged and its disposition (no values)."""
    from django.urls import reverse

    from curation.phi.report import Section, SectionItem

    files = list(SupportingFile.objects.filter(collection=collection, detached_at__isnull=True)
                 .select_related("stored_file").order_by("name"))
    files = [sf for sf in files if sf.is_table]
    if not files:
        return None
    labels = dict(Disposition.choices)
    items, lines = [], []
    for sf in files:
        reviews = {r.column: r for r in sf.columns.all()}
        url = reverse("supporting:detail", args=[sf.pk])
        try:
            profiles = column_profile(sf)
        except AttachError as exc:  # unreadable now: say so, and keep the sign-off waiting
            items.append(SectionItem(sf.name, "(the table)", ["unreadable"], "", url=url, summary=str(exc)))
            lines.append(f"{sf.name}\t{sf.stored_file.sha256}\tunreadable")
            continue
        for p in profiles:
            review = reviews.get(p.column)
            disposition = review.disposition if review else ""
            flags = list(review.flags) if review and review.flags else list(p.flags)
            items.append(SectionItem(sf.name, p.column, flags, disposition, labels.get(disposition, ""), url,
                                     f"{p.type}, {p.unique:,} unique value{'s' if p.unique != 1 else ''} in {p.filled:,} rows"))
            lines.append(f"{sf.name}\t{sf.stored_file.sha256}\t{p.column}\t{','.join(flags)}\t{disposition}")
    return Section("Supporting data", reverse("supporting:list", args=[collection.slug]), items, lines)


def unreviewed_columns(collection: Collection):
    return ColumnReview.objects.filter(supporting_file__collection=collection, supporting_file__detached_at__isnull=True,
                                       disposition="").exclude(flags=[])


# Dispositions -------------------------------------------------------------------------------------


@transaction.atomic
def apply_dispositions(sf: SupportingFile, decisions: dict[str, str], *, actor, reason: str = "") -> Revision | None:
    """Apply curator dispositions to a table's columns: remove, shift dates by each row's
    subject offset, hash, or keep. Anything but keep makes a new immutable file and revision."""
    sf = SupportingFile.objects.select_for_update().get(pk=sf.pk)
    if not sf.is_table:
        raise AttachError(f"{sf.name}: dispositions apply to tables only")
    header, rows = read_table(sf)
    decisions = {c: d for c, d in decisions.items() if d}
    for column, disposition in decisions.items():
        if column not in header:
            raise AttachError(f"{sf.name}: no column {column!r}")
        if disposition not in Disposition.values:
            raise AttachError(f"{sf.name}: unknown disposition {disposition!r} for column {column!r}")
        if disposition != Disposition.KEEP and column == sf.subject_column:
            raise AttachError(f"{sf.name}: {column!r} is the subject column; choose another subject column first")
    index = SubjectIndex(sf.collection)
    shift = [c for c, d in decisions.items() if d == Disposition.SHIFT]
    if shift and not sf.subject_column:
        raise AttachError(f"{sf.name}: shifting dates needs the subject column (each row's subject gives the offset)")
    subject_of = [index.resolve(r[header.index(sf.subject_column)]) if sf.subject_column else None for r in rows]
    blanked: dict[str, int] = {}

    def edit(column, row, value):
        disposition = decisions.get(column)
        if disposition == Disposition.HASH:
            return keyed_hash(value)
        if disposition == Disposition.SHIFT and value.strip():
            offset = index.offsets.get(subject_of[row]) if subject_of[row] else None
            moved = tables.shift_date(value, offset) if offset is not None else None
            if moved is None:  # not a date, or no offset known: a date left as it was could be PHI
                blanked[column] = blanked.get(column, 0) + 1
                return ""
            return moved
        return value

    rewriting = any(d != Disposition.KEEP for d in decisions.values())
    revision = None
    changes = []
    if rewriting:
        with sf.stored_file.open() as fh:
            data = fh.read()
        drop = [c for c, d in decisions.items() if d == Disposition.REMOVE]
        new, changed = tables.rewrite(data, sf.info.get("format", "csv"), edit, drop=drop, name=sf.name)
        for column, disposition in decisions.items():
            if disposition == Disposition.KEEP:
                continue
            entry = {"what": Disposition(disposition).label, "column": column,
                     "cells": len(rows) if disposition == Disposition.REMOVE else changed.get(column, 0)}
            if blanked.get(column):
                entry["blanked"] = blanked[column]
            changes.append(entry)
        stored = store_bytes(new, content_type=sf.content_type)
        revision = _revision(sf, stored, sf.stored_file, actor, reason=reason or "curator dispositions", changes=changes)
        sf.stored_file = stored
        sf.info = {**sf.info, "columns": [h for h in header if h not in drop]}
        sf.save(update_fields=["stored_file", "info", "updated_at"])
    now = timezone.now()
    for column, disposition in decisions.items():
        ColumnReview.objects.update_or_create(supporting_file=sf, column=column, defaults={
            "disposition": disposition, "reviewed_by": _user(actor), "reviewed_at": now})
    if rewriting:
        refresh_columns(sf)
    phi_changed(sf, "dispositions of a supporting table's columns")
    log("supporting.dispositions", actor=actor, obj=sf, reason=reason, decisions=decisions, changes=changes,
        sha256=sf.stored_file.sha256)
    check(sf)
    return revision


@transaction.atomic
def set_subject_column(sf: SupportingFile, column: str, *, actor) -> SupportingFile:
    header, _rows = read_table(sf)
    if column and column not in header:
        raise AttachError(f"{sf.name}: no column {column!r}")
    with sf.stored_file.open() as fh:
        data = fh.read()
    new, mapped = _map_subjects(data, sf.info.get("format", "csv"), column, SubjectIndex(sf.collection), sf.name)
    if mapped:
        stored = store_bytes(new, content_type=sf.content_type)
        _revision(sf, stored, sf.stored_file, actor, reason="subject column chosen",
                  changes=[{"what": "subject IDs mapped to the published IDs", "column": column, "cells": mapped}])
        sf.stored_file = stored
    sf.subject_column = column
    sf.info = {**sf.info, "subject_column": column,
               "warnings": [w for w in sf.info.get("warnings", []) if not w.startswith("No subject column")]}
    sf.save()
    log("supporting.subject_column", actor=actor, obj=sf, column=column, mapped=mapped)
    refresh_columns(sf)
    phi_changed(sf, "the subject column of a supporting table")
    check(sf)
    return sf


@transaction.atomic
def detach(sf: SupportingFile, *, actor, reason: str) -> SupportingFile:
    """Leave a file out of the next versions (versions that hold it keep it)."""
    sf.detached_at = timezone.now()
    sf.save(update_fields=["detached_at", "updated_at"])
    _sync_findings(sf, [])
    if sf.is_table:
        phi_changed(sf, "a supporting table was detached")
    log("supporting.detach", actor=actor, obj=sf, reason=reason)
    return sf


# Linkage and findings -----------------------------------------------------------------------------


def check(sf: SupportingFile) -> int:
    """Recompute the file's findings; returns how many are open."""
    if sf.detached_at is not None:
        return _sync_findings(sf, [])
    items = []
    if sf.is_table:
        items = _table_findings(sf)
    elif sf.kind == Kind.ANNOTATION:
        items = _annotation_findings(sf)
    elif sf.kind == Kind.OTHER:
        items = [dict(key="opaque", severity="info", scope="collection",
                      message=f"{sf.name}: opaque file, not parsed or checked for PHI; review it by hand.")]
    return _sync_findings(sf, items)


def check_collection(collection: Collection) -> int:
    return sum(check(sf) for sf in SupportingFile.objects.filter(collection=collection))


def _table_findings(sf) -> list[dict]:
    index = SubjectIndex(sf.collection)
    if not sf.subject_column:
        return [dict(key="no-subject-column", severity="warning", scope="collection",
                     message=f"{sf.name}: no subject column; choose the column that names the subjects.")]
    header, rows = read_table(sf)
    col = header.index(sf.subject_column) if sf.subject_column in header else None
    if col is None:
        return [dict(key="no-subject-column", severity="error", scope="collection",
                     message=f"{sf.name}: the subject column {sf.subject_column!r} is gone")]
    out, seen, unknown = [], set(), {}
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        value = row[col]
        found = index.resolve(value)
        if found is None:
            unknown.setdefault(_hidden(value) if value.strip() else "", []).append(n)
        else:
            seen.add(found)
    for key, lines in list(unknown.items())[:MAX_FINDINGS_PER_KIND]:
        what = "has no subject ID" if not key else f"names a subject not in the subject map (value withheld, keyed hash {key})"
        out.append(dict(key=f"unknown:{key}", severity="error", scope="collection",
                        message=f"{sf.name}: row{'s' if len(lines) > 1 else ''} {_rows(lines)} {what}",
                        uids={"rows": lines[:50], "hash": key}))
    for subject_id in sorted(seen - index.with_images)[:MAX_FINDINGS_PER_KIND]:
        out.append(dict(key=f"no-images:{subject_id}", severity="warning", scope="subject", subject_id=subject_id,
                        message=f"{sf.name}: subject {subject_id} has a row but no images"))
    for subject_id in sorted(index.with_images - seen)[:MAX_FINDINGS_PER_KIND]:
        out.append(dict(key=f"no-row:{subject_id}", severity="warning", scope="subject", subject_id=subject_id,
                        message=f"{sf.name}: subject {subject_id} has images but no row"))
    return out


def _rows(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines[:10]) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")


def _annotation_findings(sf) -> list[dict]:
    with sf.stored_file.open() as fh:
        reading = annotations.parse(fh.read(), sf.name)
    collection = sf.collection
    uids = set(reading.sop_uids)
    images = {i.sop_instance_uid: i for i in Image.objects.filter(collection=collection, sop_instance_uid__in=uids)
              .select_related("series__subject")}
    series = Series.objects.filter(collection=collection, series_instance_uid=reading.series_uid).select_related("subject").first()
    out = []
    if reading.series_uid and series is None:
        out.append(dict(key=f"series:{reading.series_uid}", severity="error", scope="collection",
                        message=f"{sf.name}: the annotated series {reading.series_uid} is not in the collection",
                        uids={"SeriesInstanceUID": reading.series_uid}))
    subject = series.subject if series is not None else None
    if subject is None:
        subjects = {i.series.subject for i in images.values()}
        subject = next(iter(subjects)) if len(subjects) == 1 else None
    for uid in [u for u in dict.fromkeys(reading.sop_uids) if u not in images][:MAX_FINDINGS_PER_KIND]:
        out.append(dict(key=f"dangling:{uid}", severity="error", scope="collection",
                        message=f"{sf.name}: imageSOP_UID {uid} does not resolve to an image of the collection",
                        uids={"SOPInstanceUID": uid}))
    if subject is not None:
        for uid, image in images.items():
            if image.series.subject_id != subject.pk:
                out.append(dict(key=f"subject:{uid}", severity="error", scope="image", image=image,
                                message=f"{sf.name}: imageSOP_UID {uid} is an image of {image.series.subject.patient_id}, "
                                        f"not of the annotated subject {subject.patient_id}",
                                uids={"SOPInstanceUID": uid}))
    return out


def _sync_findings(sf: SupportingFile, items: list[dict]) -> int:
    """Create or update the file's findings; the ones no longer produced become fixed."""
    from curation.checks.models import Finding

    now = timezone.now()
    existing = {f.fingerprint: f for f in Finding.objects.filter(
        collection=sf.collection, check_name=CHECK, details__supporting_file=sf.pk)}
    subjects = dict(Subject.objects.filter(collection=sf.collection).values_list("patient_id", "pk"))
    seen = set()
    for item in items:
        fp = hashlib.sha256(f"{CHECK}|{sf.pk}:{item['key']}".encode()).hexdigest()
        seen.add(fp)
        image = item.get("image")
        values = dict(check_name=CHECK, severity=item["severity"], scope=item["scope"], message=item["message"],
                      uids=item.get("uids", {}), details={"supporting_file": sf.pk, "name": sf.name},
                      subject_id=subjects.get(item.get("subject_id")) if item.get("subject_id") else
                      (image.series.subject_id if image is not None else None),
                      series_id=image.series_id if image is not None else None)
        finding = existing.get(fp)
        if finding is None:
            finding = Finding.objects.create(collection=sf.collection, fingerprint=fp, **values)
        else:
            for k, v in values.items():
                setattr(finding, k, v)
            if finding.status == Finding.Status.FIXED:
                finding.status, finding.status_reason, finding.status_at, finding.status_by = (
                    Finding.Status.OPEN, "found again by the supporting data check", now, None)
            finding.save()
        if image is not None:
            finding.images.set([image.pk])
    for fp, finding in existing.items():
        if fp not in seen and finding.status == Finding.Status.OPEN:
            Finding.objects.filter(pk=finding.pk).update(
                status=Finding.Status.FIXED, status_reason="no longer found by the supporting data check", status_at=now)
    return Finding.objects.filter(collection=sf.collection, check_name=CHECK, details__supporting_file=sf.pk,
                                  status=Finding.Status.OPEN).count()


def findings_of(sf: SupportingFile):
    from curation.checks.models import Finding

    return Finding.objects.filter(collection=sf.collection, check_name=CHECK, details__supporting_file=sf.pk).order_by(
        "status", "severity", "id")

