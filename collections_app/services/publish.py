"""Publishing a collection: gates, then an immutable version (a manifest of file hashes), then DOIs.

Gates are plain callables `gate(collection) -> list[GateFailure]`. The archive's own gates
(there are images; no SOP Instance UID with two different files; something changed since
the last version) are always checked. Other apps add theirs at start-up, e.g. in
`curation/apps.py`:

    from collections_app.services.publish import GateFailure, register_gate

    class CurationConfig(AppConfig):
        def ready(self):
            register_gate(every_image_reviewed)      # GateFailure("12 images not reviewed", url)
            register_gate(phi_report_signed_off)
            register_gate(no_open_blocking_finding)

A failing gate stops publication with `PublishBlocked(failures)`; the curator page lists each
failure's message with a link to where it can be fixed.
"""
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from tcia.core.audit import log

from ..models import Collection, CollectionVersion, Image, Series, Status, VersionEntry
from .stats import refresh_collection_stats

BATCH = 5000


@dataclass(frozen=True)
class GateFailure:
    message: str
    url: str = ""


Gate = Callable[[Collection], list[GateFailure]]
_GATES: list[Gate] = []


def register_gate(gate: Gate) -> Gate:
    """Add a publication gate (idempotent; usable as a decorator)."""
    if gate not in _GATES:
        _GATES.append(gate)
    return gate


def unregister_gate(gate: Gate) -> None:
    if gate in _GATES:
        _GATES.remove(gate)


def registered_gates() -> list[Gate]:
    return list(_GATES)


class PublishBlocked(Exception):
    def __init__(self, failures: list[GateFailure]):
        super().__init__("; ".join(f.message for f in failures))
        self.failures = failures


def _images(collection: Collection):
    return Image.objects.filter(series__collection=collection)


def manifest_digest(collection: Collection) -> tuple[str, int, int]:
    """sha256 over the sorted 'sop_uid sha256' lines the next version would freeze."""
    h = hashlib.sha256()
    count = size = 0
    rows = _images(collection).order_by("sop_instance_uid").values_list("sop_instance_uid", "stored_file__sha256", "file_size")
    for sop, sha, n in rows.iterator(chunk_size=BATCH):
        h.update(f"{sop} {sha}\n".encode())
        count += 1
        size += n
    return h.hexdigest(), count, size


def _builtin_gates(collection: Collection) -> list[GateFailure]:
    detail = reverse("collection_detail", args=[collection.slug])
    if collection.status == Status.RETIRED:
        return [GateFailure("The collection is retired; retired collections are not published again.", detail)]
    if not _images(collection).exists():
        return [GateFailure("The collection has no images.", detail)]
    failures = []
    dupes = (
        _images(collection).values("sop_instance_uid").annotate(n=Count("id")).filter(n__gt=1).values_list("sop_instance_uid", flat=True)[:5]
    )
    dupes = list(dupes)
    if dupes:
        failures.append(GateFailure(
            f"SOP Instance UIDs with more than one file (resolve the duplicates first): {', '.join(dupes)}", detail
        ))
    latest = CollectionVersion.objects.filter(collection=collection).order_by("-number").first()
    if latest is not None and latest.withdrawn_at is None and not failures:
        digest, _, _ = manifest_digest(collection)
        if digest == latest.manifest_sha256:
            failures.append(GateFailure(f"Nothing changed since version {latest.number}.", detail))
    return failures


def has_curation_workspace(collection: Collection) -> bool:
    """True when the collection's files came through intake (it has a curation submission)."""
    return hasattr(collection, "submission")


def gate_failures(collection: Collection) -> list[GateFailure]:
    """The built-in gates always; the registered ones (review, PHI sign-off, findings) judge
    curation work, so they apply to collections that have a curation workspace. Collections
    without one were built by trusted management commands (seed and demo data)."""
    failures = _builtin_gates(collection)
    if has_curation_workspace(collection):
        for gate in _GATES:
            failures.extend(gate(collection) or [])
    return failures


def publish(collection: Collection, *, actor, notes: str = "", major: bool = True, now=None) -> CollectionVersion:
    """Freeze the collection's current files as a new version and mint/update its DOIs.

    major=True gives the version its own DOI (linked IsNewVersionOf the previous one and
    IsVersionOf the collection's concept DOI); a minor version only updates the concept DOI.
    """
    from doi import services as doi_services

    failures = gate_failures(collection)
    if failures:
        raise PublishBlocked(failures)
    now = now or timezone.now()
    with transaction.atomic():
        collection = Collection.objects.select_for_update().get(pk=collection.pk)
        last = CollectionVersion.objects.filter(collection=collection).order_by("-number").first()
        version = CollectionVersion.objects.create(
            collection=collection, number=(last.number + 1) if last else 1, release_date=timezone.localdate(now),
            notes=notes, created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        h = hashlib.sha256()
        count = size = 0
        batch = []
        rows = _images(collection).order_by("sop_instance_uid").values_list(
            "series_id", "sop_instance_uid", "stored_file_id", "stored_file__sha256", "file_size",
            "sop_class_uid", "instance_number", "acquisition_number",
        )
        for series_id, sop, file_id, sha, n, sop_class, inst, acq in rows.iterator(chunk_size=BATCH):
            h.update(f"{sop} {sha}\n".encode())
            count += 1
            size += n
            batch.append(VersionEntry(
                version=version, series_id=series_id, sop_instance_uid=sop, stored_file_id=file_id,
                sop_class_uid=sop_class, instance_number=inst, acquisition_number=acq,
            ))
            if len(batch) >= BATCH:
                VersionEntry.objects.bulk_create(batch)
                batch = []
        if batch:
            VersionEntry.objects.bulk_create(batch)
        freeze_series(version)
        CollectionVersion.objects.filter(pk=version.pk).update(manifest_sha256=h.hexdigest(), image_count=count, total_bytes=size)
        version.refresh_from_db()
        released = Series.objects.filter(collection=collection, date_released__isnull=True).update(date_released=now)
        if collection.status != Status.PUBLISHED:
            Collection.objects.filter(pk=collection.pk).update(status=Status.PUBLISHED)
        refresh_collection_stats(collection)
        touched = doi_services.prepare_for_version(version, major=major)
        log(
            "collection.publish", actor=actor, obj=version, reason=notes, number=version.number, major=major,
            manifest_sha256=version.manifest_sha256, images=count, bytes=size, newly_released_series=released,
            dois=[d.doi for d in touched],
        )
    # Registry calls happen after the commit; a failure is kept on the DOI for a retry.
    doi_services.sync_all(touched)
    return version


def freeze_series(version: CollectionVersion) -> int:
    """Snapshot how each series of `version` is described now (see VersionSeries)."""
    from ..models import VersionSeries

    fields = VersionSeries.SNAPSHOT_FIELDS
    series_ids = VersionEntry.objects.filter(version=version).values("series_id").distinct()
    rows = Series.objects.filter(pk__in=series_ids).values_list("pk", *fields.values())
    snapshots = [
        VersionSeries(version=version, series_id=row[0], **dict(zip(fields, (v if v is not None else "" for v in row[1:]))))
        for row in rows
    ]
    for snap in snapshots:  # a missing date stays a NULL, not ""
        if snap.study_date == "":
            snap.study_date = None
    VersionSeries.objects.bulk_create(snapshots, batch_size=BATCH)
    return len(snapshots)
