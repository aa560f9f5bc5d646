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

Other apps may also add files to a version's manifest (the `supporting` app's tables, XML,
documents and slides): `register_manifest_part(lines, freeze)`, where `lines(collection)` gives
the (key, sha256) lines the next version would freeze beside its images and `freeze(version)`
records them on the version inside the release's transaction.

A failing gate stops publication with `PublishBlocked(failures)`; the curator page lists each
failure's message with a link to where it can be fixed.

The archive knows nothing of identifiers: layers above it (the `doi` app) register a
*publication hook* that hears of every released and withdrawn version inside the same
transaction and may return work to run after the commit (talking to a registry):

    register_publication_hook(hook)     # hook(event, version, *, major) -> callable | None
                                        # event is "published" or "withdrawn"

The facts the public side shows (counts, sizes, modalities, body parts) are computed here once,
from the frozen version, and stored on it; the collection points at its latest released version.
"""
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from tcia.core.audit import log

from ..models import Collection, CollectionVersion, Image, Series, Status, VersionEntry, VersionSeries
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


_MANIFEST_PARTS: list[tuple[Callable, Callable]] = []


def register_manifest_part(lines: Callable, freeze: Callable) -> None:
    """Files besides the images that a version freezes (idempotent)."""
    if (lines, freeze) not in _MANIFEST_PARTS:
        _MANIFEST_PARTS.append((lines, freeze))


def _extra_lines(collection: Collection):
    for lines, _freeze in _MANIFEST_PARTS:
        for key, sha in sorted(lines(collection)):
            yield f"{key} {sha}\n".encode()


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
    for line in _extra_lines(collection):
        h.update(line)
    return h.hexdigest(), count, size


def _builtin_gates(collection: Collection) -> list[GateFailure]:
    detail = reverse("collection_detail", args=[collection.slug])
    if collection.status == Status.RETIRED:
        return [GateFailure("The collection is retired; retired collections are not published again.", detail)]
    if not _images(collection).exists():
        return [GateFailure("The collection has no images.", detail)]
    failures = []
    # Images are unique per (collection, SOP Instance UID) in the database, so two files of one
    # instance can be in this collection's series only if an image owned by another collection
    # is filed under them: look for that (cheap) before naming the duplicates (a scan).
    dupes = []
    if _images(collection).exclude(collection_id=collection.pk).exists():
        dupes = list(_images(collection).values("sop_instance_uid").annotate(n=Count("id")).filter(n__gt=1)
                     .values_list("sop_instance_uid", flat=True)[:5])
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


Hook = Callable[..., Callable[[], object] | None]
_HOOKS: list[Hook] = []


def register_publication_hook(hook: Hook) -> Hook:
    """Hear of every released or withdrawn version (idempotent; usable as a decorator)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)
    return hook


def _run_hooks(event: str, version: CollectionVersion, **kwargs) -> list:
    after = []
    for hook in _HOOKS:
        job = hook(event, version, **kwargs)
        if job is not None:
            after.append(job)
    return after


def _after(jobs: list, after: list | None) -> None:
    """Work for after the commit: handed to the caller (`after`), or else to on_commit."""
    if after is not None:
        after.extend(jobs)
    else:
        for job in jobs:
            transaction.on_commit(job)


def run_after(jobs: list) -> None:
    for job in jobs:
        job()


def publish(collection: Collection, *, actor, notes: str = "", major: bool = True, now=None) -> CollectionVersion:
    """Check the gates, freeze the collection's current files as a new version and tell the
    publication hooks (the DOI layer mints or updates its DOIs).

    major=True marks a major release (the DOI layer gives it its own DOI)."""
    failures = gate_failures(collection)
    if failures:
        raise PublishBlocked(failures)
    after: list = []
    with transaction.atomic():
        version = release(collection, actor=actor, notes=notes, major=major, now=now, after=after)
    run_after(after)  # registry calls, once the version is committed
    return version


def release(collection: Collection, *, actor, notes: str = "", major: bool = True, now=None,
            after: list | None = None) -> CollectionVersion:
    """The release itself, without the gates: the caller checks them (publish) or rehearses
    (rehearse). Must run inside a transaction; the hooks' work for after the commit goes to
    `after` (the caller runs it) or else to transaction.on_commit."""
    now = now or timezone.now()
    collection = Collection.objects.select_for_update().get(pk=collection.pk)
    last = CollectionVersion.objects.filter(collection=collection).order_by("-number").first()
    version = CollectionVersion.objects.create(
        collection=collection, number=(last.number + 1) if last else 1, release_date=timezone.localdate(now),
        notes=notes, created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    h = hashlib.sha256()
    count = size = 0
    per_series: dict[int, list[int]] = {}
    batch = []
    rows = _images(collection).order_by("sop_instance_uid").values_list(
        "series_id", "sop_instance_uid", "stored_file_id", "stored_file__sha256", "file_size",
        "sop_class_uid", "instance_number", "acquisition_number",
    )
    for series_id, sop, file_id, sha, n, sop_class, inst, acq in rows.iterator(chunk_size=BATCH):
        h.update(f"{sop} {sha}\n".encode())
        count += 1
        size += n
        tally = per_series.setdefault(series_id, [0, 0])
        tally[0] += 1
        tally[1] += n
        batch.append(VersionEntry(
            version=version, series_id=series_id, sop_instance_uid=sop, stored_file_id=file_id,
            sop_class_uid=sop_class, instance_number=inst, acquisition_number=acq,
        ))
        if len(batch) >= BATCH:
            VersionEntry.objects.bulk_create(batch)
            batch = []
    if batch:
        VersionEntry.objects.bulk_create(batch)
    for line in _extra_lines(collection):
        h.update(line)
    for _lines, freeze in _MANIFEST_PARTS:
        freeze(version)
    freeze_series(version, per_series)
    CollectionVersion.objects.filter(pk=version.pk).update(
        manifest_sha256=h.hexdigest(), image_count=count, total_bytes=size, **version_facts(version))
    version.refresh_from_db()
    released = Series.objects.filter(collection=collection, date_released__isnull=True).update(date_released=now)
    if collection.status != Status.PUBLISHED:
        Collection.objects.filter(pk=collection.pk).update(status=Status.PUBLISHED)
    refresh_collection_stats(collection)
    apply_released(collection, now=now)
    jobs = _run_hooks("published", version, major=major)
    log(
        "collection.publish", actor=actor, obj=version, reason=notes, number=version.number, major=major,
        manifest_sha256=version.manifest_sha256, images=count, bytes=size, newly_released_series=released,
    )
    # Registry calls happen after the commit; a failure is kept by the layer that made the call.
    _after(jobs, after)
    return version


class _Rehearsal(Exception):
    pass


def rehearse(collection: Collection, *, notes: str = "", major: bool = True, actor=None, show=None):
    """What publishing now would release, without releasing it: the release runs in a transaction
    that is rolled back after `show(version)` has looked at it (with the publication hooks' rows,
    e.g. the DOIs, in place). Returns what `show` returned. Gates are the caller's business; work
    meant for after the commit is dropped with the transaction."""
    result = {}
    try:
        with transaction.atomic():
            version = release(collection, actor=actor, notes=notes, major=major, after=[])
            result["value"] = show(version) if show else version
            raise _Rehearsal
    except _Rehearsal:
        pass
    return result.get("value")


def version_facts(version: CollectionVersion) -> dict:
    """Subjects, studies, series, modalities and body parts of a frozen version, from its series
    snapshots (one query)."""
    rows = list(VersionSeries.objects.filter(version=version).values_list(
        "patient_id", "study_instance_uid", "modality", "body_part_examined"))
    return {
        "subject_count": len({r[0] for r in rows}),
        "study_count": len({r[1] for r in rows}),
        "series_count": len(rows),
        "modalities": sorted({r[2] for r in rows if r[2]}),
        "body_parts": sorted({r[3] for r in rows if r[3]}),
    }


def apply_released(collection: Collection, *, now=None) -> CollectionVersion | None:
    """Point the collection at its latest released version and make the public figures that
    version's: modalities and anatomic sites for the catalogue's filters, and each series'
    released image count and size (from the latest version holding it, as downloads serve it)."""
    from .catalogue import modality, site_for_body_part

    latest = (CollectionVersion.objects.filter(collection=collection, withdrawn_at__isnull=True)
              .order_by("-number").first())
    Collection.objects.filter(pk=collection.pk).update(latest_version=latest, updated_at=now or timezone.now())
    if latest is not None:
        collection.modalities.set([modality(code) for code in latest.modalities])
        sites = {s.pk for s in collection.anatomic_sites.all()}
        for part in latest.body_parts:
            found = site_for_body_part(part)
            if found is not None:
                sites.add(found.pk)
        collection.anatomic_sites.set(sorted(sites))
    counts = {}
    versions = CollectionVersion.objects.filter(collection=collection, withdrawn_at__isnull=True).order_by("number")
    for version_id in versions.values_list("pk", flat=True):
        for series_id, n, size in VersionSeries.objects.filter(version_id=version_id).values_list(
                "series_id", "image_count", "total_bytes"):
            counts[series_id] = (n, size)
    changed = []
    for s in Series.objects.filter(collection=collection).only("pk", "released_image_count", "released_bytes"):
        n, size = counts.get(s.pk, (0, 0))
        if (s.released_image_count, s.released_bytes) != (n, size):
            s.released_image_count, s.released_bytes = n, size
            changed.append(s)
    Series.objects.bulk_update(changed, ["released_image_count", "released_bytes"], batch_size=BATCH)
    collection.latest_version = latest
    return latest


def withdraw(version: CollectionVersion, *, actor, reason: str) -> CollectionVersion:
    """Withdraw a version: its downloads stop, the public figures fall back to the previous
    version, and the publication hooks hear of it (the DOI resolves to a tombstone)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required to withdraw a version.")
    after: list = []
    with transaction.atomic():
        locked = CollectionVersion.objects.select_for_update().get(pk=version.pk)
        version.refresh_from_db()
        if locked.withdrawn_at is None:
            CollectionVersion.objects.filter(pk=version.pk).update(withdrawn_at=timezone.now(), withdrawn_reason=reason)
            version.refresh_from_db()
            apply_released(version.collection)
            log("collection.withdraw_version", actor=actor, obj=version, reason=reason, number=version.number)
        _after(_run_hooks("withdrawn", version, major=False), after)
    run_after(after)
    return version


def freeze_series(version: CollectionVersion, per_series: dict | None = None) -> int:
    """Snapshot how each series of `version` is described now (see VersionSeries), with its
    image count and size in the version (per_series: series id → [images, bytes])."""
    fields = VersionSeries.SNAPSHOT_FIELDS
    if per_series is None:
        from django.db.models import Sum

        per_series = {
            r["series_id"]: [r["n"], r["size"] or 0]
            for r in VersionEntry.objects.filter(version=version).values("series_id")
            .annotate(n=Count("id"), size=Sum("stored_file__size")).order_by()
        }
    rows = Series.objects.filter(pk__in=list(per_series)).values_list("pk", *fields.values())
    snapshots = []
    for row in rows:
        n, size = per_series.get(row[0], (0, 0))
        snap = VersionSeries(version=version, series_id=row[0], image_count=n, total_bytes=size,
                             **dict(zip(fields, (v if v is not None else "" for v in row[1:]))))
        if snap.study_date == "":  # a missing date stays a NULL, not ""
            snap.study_date = None
        snapshots.append(snap)
    VersionSeries.objects.bulk_create(snapshots, batch_size=BATCH)
    return len(snapshots)
