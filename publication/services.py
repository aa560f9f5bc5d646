"""Publishing with publication metadata: draft → gate → preview → confirm → release and mint.

The archive freezes the version (collections_app.services.publish.release) and the DOI layer
mints through its publication hook; this layer puts the curator's metadata in the same
transaction and shows what would be minted before anything is.
"""
import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from collections_app.services.publish import GateFailure, PublishBlocked, gate_failures, rehearse, release, run_after
from doi import metadata as datacite
from doi import selectors as doi_selectors
from doi import services as doi_services

from . import metadata
from .models import PublicationDraft


def digest(data: dict, major: bool) -> str:
    text = json.dumps({"data": data, "major": bool(major)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def problems(collection, data: dict) -> dict[str, list[str]]:
    return metadata.problems(data, collection, site_name=settings.TCIA_SITE_NAME)


def save_draft(collection, data: dict, *, major: bool, actor) -> PublicationDraft:
    data = metadata.normalize(data)
    draft, _ = PublicationDraft.objects.update_or_create(
        collection=collection,
        defaults={"data": data, "major": major, "digest": digest(data, major),
                  "updated_by": actor if getattr(actor, "is_authenticated", False) else None},
    )
    return draft


def draft_or_initial(collection) -> tuple[dict, bool]:
    draft = PublicationDraft.objects.filter(collection=collection).first()
    if draft is not None:
        return draft.data, draft.major
    return metadata.initial(collection), True


@dataclass
class Preview:
    record: dict          # the DataCite JSON that would be sent
    doi: str              # the DOI it would go to (a new version DOI is drawn again when publishing)
    landing: object       # what `show_landing(doi)` returned (the landing page's main part)
    version_number: int


def preview(collection, data: dict, *, major: bool, show_landing=None) -> Preview:
    """Rehearse the release with `data` applied, in a transaction that is rolled back: the
    DataCite record is exactly what publishing would send, and `show_landing(doi)` may render
    the landing page from the rows as they would be."""
    def show(version):
        cited = doi_selectors.citable_doi_for_version(version)
        record = datacite.build(cited)
        landing = show_landing(cited) if show_landing else None
        return Preview(record=record, doi=cited.doi, landing=landing, version_number=version.number)

    def rehearsal(version):
        return show(version)

    with transaction.atomic():
        # The metadata change is rolled back with the release rehearsal around it.
        sid = transaction.savepoint()
        try:
            doi_services.apply_publication_metadata(collection, data, actor=None)
            result = rehearse(collection, notes=data.get("notes", ""), major=major, show=rehearsal)
        finally:
            transaction.savepoint_rollback(sid)
    return result


def blocked(collection, data: dict) -> list[GateFailure]:
    """Everything that stops publication now: the archive's gates (and curation's) and the
    publication metadata gate."""
    failures = list(gate_failures(collection))
    for field, messages in problems(collection, data).items():
        failures += [GateFailure(f"{field}: {m}") for m in messages]
    return failures


def publish(collection, data: dict, *, major: bool, actor):
    """Apply the metadata and release a version, in one transaction; the DOIs are registered
    after the commit. Raises PublishBlocked with every failing gate."""
    data = metadata.normalize(data)
    failures = blocked(collection, data)
    if failures:
        raise PublishBlocked(failures)
    after: list = []
    with transaction.atomic():
        doi_services.apply_publication_metadata(collection, data, actor=actor)
        version = release(collection, actor=actor, notes=data.get("notes", ""), major=major, after=after)
        PublicationDraft.objects.filter(collection=collection).delete()
    run_after(after)  # the DOIs are registered once the version is committed
    return version


def update_metadata(collection, data: dict, *, actor):
    """A metadata edit without a new version: applied, and every registered DOI of the collection
    resent (DataCite's advice for minor changes)."""
    data = metadata.normalize(data)
    errs = {k: v for k, v in problems(collection, data).items() if k != "notes"}
    if errs:
        raise PublishBlocked([GateFailure(f"{f}: {m}") for f, ms in errs.items() for m in ms])
    with transaction.atomic():
        doi_services.apply_publication_metadata(collection, data, actor=actor)
        PublicationDraft.objects.filter(collection=collection).delete()
        touched = doi_services.dois_for_collection(collection)
    doi_services.sync_all(touched)
    return collection


def withdraw(version, *, actor, reason: str):
    return doi_services.withdraw_version(version, actor=actor, reason=reason)
