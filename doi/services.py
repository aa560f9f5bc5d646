"""Minting and updating DOIs, and the decisions around subsets and analysis results.

Database rows are written first (inside the caller's transaction); talking to the registry
(`sync`) happens after, and a registry failure leaves the DOI in its previous state with the
error in `last_error` so `sync` can simply be run again (it is idempotent: it always sends the
complete, freshly built and validated record).
"""
import hashlib
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from collections_app.models import Collection, CollectionVersion, VersionEntry
from collections_app.selectors import latest_version_with_series, released_series
from tcia.core.audit import log

from . import conf, metadata, selectors
from .models import DOI, DatasetStatus, DerivedDataset, DerivedFile, Subset, SubsetItem
from .providers import ProviderError, get_provider

logger = logging.getLogger(__name__)


class SubsetError(ValueError):
    pass


def touch_collections(pks) -> None:
    """The public pages of these collections list what was just published from them (supporting
    data, subsets): move their updated_at, which keys those pages' caches."""
    Collection.objects.filter(pk__in=pks).update(updated_at=timezone.now())


def landing_url(doi: str) -> str:
    return f"{conf.site_url()}/doi/{doi}"


def _create(provider=None, **fields) -> DOI:
    provider = provider or get_provider()
    for _ in range(10):
        doi = provider.new_doi()
        try:
            with transaction.atomic():
                return DOI.objects.create(doi=doi, provider=provider.name, url=landing_url(doi), **fields)
        except IntegrityError:
            if DOI.objects.filter(doi=doi).exists():
                continue  # random suffix collision: draw again
            raise
    raise RuntimeError("could not draw an unused DOI suffix")


def ensure_concept_doi(collection: Collection, provider=None) -> DOI:
    existing = selectors.concept_doi(collection)
    return existing or _create(provider, kind=DOI.Kind.CONCEPT, collection=collection)


def create_version_doi(version: CollectionVersion, provider=None) -> DOI:
    existing = selectors.version_doi(version)
    return existing or _create(provider, kind=DOI.Kind.VERSION, collection=version.collection, version=version)


def desired_state(doi: DOI) -> str:
    if doi.kind == DOI.Kind.VERSION:
        return DOI.State.REGISTERED if doi.version.withdrawn_at else DOI.State.FINDABLE
    if doi.kind == DOI.Kind.CONCEPT:
        return DOI.State.FINDABLE if selectors.latest_version(doi.collection) else DOI.State.REGISTERED
    obj = doi.subset if doi.kind == DOI.Kind.SUBSET else doi.derived
    return DOI.State.REGISTERED if obj.status == DatasetStatus.WITHDRAWN else DOI.State.FINDABLE


def sync(doi: DOI, provider=None) -> DOI:
    """Build and validate the record, then move the DOI to the state its data calls for.

    draft → findable (reserve, send metadata and URL, publish); findable → registered when the
    data are withdrawn (hide); otherwise send the new metadata. Raises MetadataInvalid before
    any request when the record does not validate.
    """
    provider = provider or get_provider(doi.provider)
    record = metadata.validate(metadata.build(doi))
    target = desired_state(doi)
    try:
        if doi.state == DOI.State.DRAFT:
            provider.reserve(doi.doi, record)
            provider.publish(doi.doi, record, doi.url)
            if target == DOI.State.REGISTERED:
                provider.hide(doi.doi, record, doi.url)
        elif doi.state == DOI.State.FINDABLE and target == DOI.State.REGISTERED:
            provider.hide(doi.doi, record, doi.url)
        elif doi.state == DOI.State.REGISTERED and target == DOI.State.FINDABLE:
            provider.publish(doi.doi, record, doi.url)
        else:
            provider.update(doi.doi, record, doi.url)
    except ProviderError as exc:
        logger.warning("DOI %s not synced: %s", doi.doi, exc)
        DOI.objects.filter(pk=doi.pk).update(last_error=str(exc)[:2000])
        doi.last_error = str(exc)
        return doi
    doi.metadata = record
    if doi.registered_at is None:
        doi.registered_at = timezone.now()
    doi.state = target
    doi.last_error = ""
    doi.save(update_fields=["metadata", "registered_at", "state", "last_error", "updated_at"])
    if doi.kind in (DOI.Kind.CONCEPT, DOI.Kind.VERSION):
        record_citation_urls(doi.collection or doi.version.collection)
    return doi


def sync_all(dois, provider=None) -> list[DOI]:
    seen, out = set(), []
    for d in dois:
        if d is not None and d.pk not in seen:
            seen.add(d.pk)
            out.append(sync(d, provider))
    return out


def dois_for_collection(collection: Collection) -> list[DOI]:
    """Every DOI whose metadata mentions the collection: version DOIs, then the concept DOI."""
    versions = list(DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=collection).order_by("version__number"))
    concept = selectors.concept_doi(collection)
    return versions + ([concept] if concept else [])


def prepare_for_version(version: CollectionVersion, *, major: bool, provider=None) -> list[DOI]:
    """Create the DOI rows a new version needs (called inside the publishing transaction).

    Returns the DOIs whose metadata must be (re)sent: the new version DOI, the previous major
    version DOI (it gains IsPreviousVersionOf) and the concept DOI (HasVersion, version number).
    """
    concept = ensure_concept_doi(version.collection, provider)
    touched = []
    if major:
        touched.append(create_version_doi(version, provider))
        previous = (
            DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=version.collection, version__number__lt=version.number)
            .order_by("-version__number")
            .first()
        )
        if previous:
            touched.append(previous)
    touched.append(concept)
    return touched


def withdraw_version(version: CollectionVersion, *, actor, reason: str) -> CollectionVersion:
    """Withdraw a version (collections_app.services.publish.withdraw): its downloads stop and,
    through the publication hook, its DOI becomes Registered and resolves to a 410 tombstone
    that keeps the citation."""
    from collections_app.services.publish import withdraw

    return withdraw(version, actor=actor, reason=reason)


def on_archive_event(event: str, version: CollectionVersion, *, major: bool = True, provider=None):
    """The publication hook (registered in DoiConfig.ready): a released version gets its DOI
    rows inside the archive's transaction; the registry is told after the commit."""
    if event == "published":
        touched = prepare_for_version(version, major=major, provider=provider)
        log("doi.prepare_for_version", actor=None, obj=version, number=version.number, major=major,
            dois=[d.doi for d in touched])
        return lambda: sync_all(touched, provider)
    if event == "withdrawn":
        collection = version.collection
        return lambda: sync_all(dois_for_collection(collection), provider)
    return None


def record_citation_urls(collection: Collection) -> None:
    """Write each version's citable DOI (its own, or for a minor version the concept DOI) into
    the archive's `CollectionVersion.doi_url` once that DOI is registered, so downloads and the
    archive's pages cite it without asking this app."""
    concept = selectors.concept_doi(collection)
    own = {d.version_id: d for d in DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=collection)}
    for version in CollectionVersion.objects.filter(collection=collection):
        d = own.get(version.pk) or concept
        url = d.https if d is not None and d.state != DOI.State.DRAFT else ""
        if version.doi_url != url:
            CollectionVersion.objects.filter(pk=version.pk).update(doi_url=url)


# Subsets -----------------------------------------------------------------------------------


@transaction.atomic
def request_subset(*, user, title: str, description: str, series_ids, creators=None) -> Subset:
    """A researcher asks for a DOI for the series in their cart. Each series is pinned to the
    latest version holding it now, so what the curator approves is what was asked for."""
    if not getattr(user, "is_authenticated", False):
        raise SubsetError("Log in to request a DOI.")
    series = list(released_series(user).filter(pk__in=list(series_ids)).select_related("collection"))
    if not series:
        raise SubsetError("The selection holds no released series.")
    if not title.strip() or not description.strip():
        raise SubsetError("A title and a description of the selection are required.")
    subset = Subset.objects.create(
        title=title.strip(), description=description.strip(), requested_by=user, creators=creators or [],
        status=DatasetStatus.REQUESTED,
    )
    items = []
    for s in series:
        version = latest_version_with_series(s)
        if version is None:
            raise SubsetError(f"Series {s.series_instance_uid} is in no published version yet.")
        items.append(SubsetItem(subset=subset, series=s, version=version))
    SubsetItem.objects.bulk_create(items)
    log("doi.subset_request", actor=user, obj=subset, series=len(items))
    return subset


def subset_manifest_digest(subset: Subset) -> tuple[str, int, int]:
    h = hashlib.sha256()
    count = size = 0
    pairs = list(subset.items.values_list("version_id", "series_id"))
    rows = []
    for version_id, series_id in pairs:
        rows += list(
            VersionEntry.objects.filter(version_id=version_id, series_id=series_id).values_list(
                "sop_instance_uid", "stored_file__sha256", "stored_file__size"
            )
        )
    for sop, sha, n in sorted(rows):
        h.update(f"{sop} {sha}\n".encode())
        count += 1
        size += n
    return h.hexdigest(), count, size


def approve_subset(subset: Subset, *, actor, note: str = "", provider=None) -> DOI:
    with transaction.atomic():
        subset = Subset.objects.select_for_update().get(pk=subset.pk)
        if subset.status != DatasetStatus.REQUESTED:
            raise SubsetError(f"This request is {subset.get_status_display().lower()}, not awaiting a decision.")
        digest, count, size = subset_manifest_digest(subset)
        subset.status = DatasetStatus.PUBLISHED
        subset.decided_by = actor
        subset.decided_at = timezone.now()
        subset.decision_note = note
        subset.manifest_sha256, subset.image_count, subset.total_bytes = digest, count, size
        subset.save()
        doi = _create(provider, kind=DOI.Kind.SUBSET, subset=subset)
        log("doi.subset_approve", actor=actor, obj=subset, doi=doi.doi, manifest_sha256=digest, reason=note)
        touch_collections(subset.items.values("series__collection_id"))
    sync(doi, provider)
    # The sources gain HasPart/IsSourceOf: resend their complete records.
    sync_all(metadata.subset_targets(subset), provider)
    doi.refresh_from_db()
    return doi


@transaction.atomic
def reject_subset(subset: Subset, *, actor, note: str) -> Subset:
    if subset.status != DatasetStatus.REQUESTED:
        raise SubsetError("Only open requests can be rejected.")
    subset.status = DatasetStatus.REJECTED
    subset.decided_by, subset.decided_at, subset.decision_note = actor, timezone.now(), note
    subset.save()
    log("doi.subset_reject", actor=actor, obj=subset, reason=note)
    return subset


# Analysis results ----------------------------------------------------------------------------


@transaction.atomic
def create_derived(*, actor, slug: str, title: str, summary: str = "", description: str = "", sources=(),
                   files=(), creators=None, result_type: str = "Analysis Results", license: str = "CC-BY-4.0") -> DerivedDataset:
    """files: iterable of (name, StoredFile, description)."""
    dataset = DerivedDataset.objects.create(
        slug=slug, title=title, summary=summary, description=description, creators=creators or [],
        result_type=result_type, license=license, created_by=actor,
    )
    dataset.sources.set(list(sources))
    DerivedFile.objects.bulk_create([DerivedFile(dataset=dataset, name=n, stored_file=f, description=d) for n, f, d in files])
    from supporting.derived import link_dataset

    link_dataset(dataset)  # SEG/RTSTRUCT files: the source images they reference
    log("doi.derived_create", actor=actor, obj=dataset, files=len(files), sources=[s.slug for s in sources])
    return dataset


def publish_derived(dataset: DerivedDataset, *, actor, provider=None) -> DOI:
    with transaction.atomic():
        if not dataset.files.exists():
            raise SubsetError("Add at least one file before publishing analysis results.")
        from supporting.derived import link_dataset, problems

        link_dataset(dataset)
        unlinked = problems(dataset)
        if unlinked:
            raise SubsetError("Segmentations must reference released source images: " + "; ".join(unlinked[:5]))
        dataset.status = DatasetStatus.PUBLISHED
        dataset.published_at = dataset.published_at or timezone.now()
        dataset.save(update_fields=["status", "published_at"])
        doi = DOI.objects.filter(derived=dataset).first() or _create(provider, kind=DOI.Kind.DERIVED, derived=dataset)
        log("doi.derived_publish", actor=actor, obj=dataset, doi=doi.doi)
        touch_collections(dataset.sources.values("pk"))
    sync(doi, provider)
    sync_all([selectors.concept_doi(s) for s in dataset.sources.all()], provider)
    doi.refresh_from_db()
    return doi


# Publication metadata ---------------------------------------------------------------------------


@transaction.atomic
def apply_publication_metadata(collection: Collection, data: dict, *, actor) -> Collection:
    """Make `data` (the shape of publication.metadata: summary, description, license, creators,
    contributors, keywords, funding, related) the collection's publication metadata. The
    caller has validated it (publication.metadata.problems). Registered DOIs are resent by the
    caller (publishing does; a metadata-only edit calls sync_all)."""
    from collections_app.services.catalogue import describe

    from .models import CollectionContributor, CollectionCreator, PublicationInfo, RelatedPublication

    describe(collection, summary=data["summary"], description=data.get("description", ""), license=data["license"])

    def person(row, i):
        return {"position": i, "name_type": row.get("name_type") or "Personal", "given_name": row.get("given", ""),
                "family_name": row.get("family", ""), "orcid": row.get("orcid", ""), "affiliation": row.get("affiliation", "")}

    CollectionCreator.objects.filter(collection=collection).delete()
    CollectionCreator.objects.bulk_create(
        [CollectionCreator(collection=collection, **person(r, i)) for i, r in enumerate(data.get("creators", []), 1)])
    CollectionContributor.objects.filter(collection=collection).delete()
    CollectionContributor.objects.bulk_create([
        CollectionContributor(collection=collection, contributor_type=r.get("contributor_type") or "Other", **person(r, i))
        for i, r in enumerate(data.get("contributors", []), 1)])
    RelatedPublication.objects.filter(collection=collection).delete()
    RelatedPublication.objects.bulk_create([
        RelatedPublication(collection=collection, relation=r.get("relation") or RelatedPublication.Relation.IS_DESCRIBED_BY,
                           citation=r.get("citation", ""), doi=(r.get("doi") or "").lower(), pmid=r.get("pmid", ""),
                           url=r.get("url", ""))
        for r in data.get("related", [])])
    info, _ = PublicationInfo.objects.get_or_create(collection=collection)
    info.keywords = list(data.get("keywords", []))
    info.funding = [dict(f) for f in data.get("funding", [])]
    info.revision += 1
    info.save()
    log("doi.publication_metadata", actor=actor, obj=collection, revision=info.revision,
        creators=len(data.get("creators", [])), contributors=len(data.get("contributors", [])),
        keywords=len(info.keywords), funding=len(info.funding), related=len(data.get("related", [])))
    return collection
