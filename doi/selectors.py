"""Reads for DOIs: what a DOI names, and the figures landing pages and metadata show.

`doi_url_for_collection` is the one call other apps (the NBIA API's Collection URI /
DataDescriptionURI) need: "https://doi.org/<concept doi>" or "" while the collection has none.
"""
from django.db.models import Count, Q, Sum

from collections_app.models import PUBLIC_STATUSES, Collection, CollectionVersion, Series, VersionEntry
from tcia.core import roles

from .models import DOI


def doi_url_for_collection(collection: Collection) -> str:
    """The collection's concept DOI as an https URL, or "" if it has no registered DOI."""
    doi = (
        DOI.objects.filter(collection_id=collection.pk, kind=DOI.Kind.CONCEPT)
        .exclude(state=DOI.State.DRAFT)
        .values_list("doi", flat=True)
        .first()
    )
    return f"https://doi.org/{doi}" if doi else ""


def concept_doi(collection: Collection) -> DOI | None:
    return DOI.objects.filter(collection=collection, kind=DOI.Kind.CONCEPT).first()


def version_doi(version: CollectionVersion) -> DOI | None:
    return DOI.objects.filter(version=version).first()


def version_dois(collection: Collection):
    return DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=collection)


def citable_doi_for_version(version: CollectionVersion) -> DOI | None:
    """The DOI that cites exactly this version: its own (major versions) or else the concept DOI."""
    return version_doi(version) or concept_doi(version.collection)


def published_versions(collection: Collection):
    return CollectionVersion.objects.filter(collection=collection).order_by("-number")


def latest_version(collection: Collection) -> CollectionVersion | None:
    """The latest released, not withdrawn, version (kept on the collection at publish)."""
    return collection.latest_version


def version_series(version: CollectionVersion):
    return Series.objects.filter(pk__in=VersionEntry.objects.filter(version=version).values("series_id"))


def series_facts(series_qs) -> dict:
    agg = series_qs.aggregate(
        subjects=Count("subject_id", distinct=True), studies=Count("study_id", distinct=True), series=Count("id")
    )
    modalities = sorted({m for m in series_qs.values_list("modality", flat=True).distinct() if m})
    body_parts = sorted({b for b in series_qs.values_list("body_part_examined", flat=True).distinct() if b})
    return {**agg, "modalities": modalities, "body_parts": body_parts}


def version_facts(version: CollectionVersion) -> dict:
    """The facts stored on the version when it was frozen (no query)."""
    return {
        "subjects": version.subject_count, "studies": version.study_count, "series": version.series_count,
        "images": version.image_count, "bytes": version.total_bytes,
        "modalities": list(version.modalities or []), "body_parts": list(version.body_parts or []),
    }


def subset_series(subset):
    return Series.objects.filter(pk__in=subset.items.values("series_id"))


def subset_facts(subset) -> dict:
    facts = series_facts(subset_series(subset))
    facts["images"] = subset.image_count
    facts["bytes"] = subset.total_bytes
    return facts


def derived_facts(dataset) -> dict:
    agg = dataset.files.aggregate(n=Count("id"), size=Sum("stored_file__size"))
    return {"files": agg["n"] or 0, "bytes": agg["size"] or 0}


def subsets_from(collection: Collection):
    """Published subsets drawing on `collection` (for the reverse HasPart/IsSourceOf relations)."""
    from .models import DatasetStatus, Subset

    return Subset.objects.filter(items__series__collection=collection, status=DatasetStatus.PUBLISHED).distinct()


def resolve(doi: str) -> DOI | None:
    return DOI.objects.filter(doi=doi.strip().lower()).select_related(
        "collection__latest_version", "version__collection__latest_version", "subset", "derived").first()


_KEY_FIELDS = ("id", "doi", "kind", "state", "updated_at", "collection_id", "version_id", "subset_id", "derived_id")
_COLLECTION_KEY_FIELDS = ("id", "slug", "status", "access", "updated_at", "latest_version_id", "data_use_agreement")


def resolve_for_key(doi: str) -> DOI | None:
    """A DOI with only what a landing page's cache key and access check read (its state and
    stamps, its collection's status, access and stamp, a version's withdrawal); the page itself
    is built from `resolve` on a cache miss.

    Every landing page request starts here, so it is one prepared statement (built once per
    process from the models' metadata) rather than an ORM query compiled anew each time: the
    compilation of a three-join `only()` query cost more than the rest of a cached page."""
    from django.db import connection

    sql, layout = _key_statement(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [doi.strip().lower()])
        row = cursor.fetchone()
    if row is None:
        return None
    values = iter(row)
    objects = {}
    for name, model, fields in layout:
        raw = [next(values) for _ in fields]
        if raw[0] is None:  # no such related row (LEFT JOIN)
            objects[name] = None
            continue
        converted = [value if value is None else _convert(field, value, connection) for field, value in zip(fields, raw)]
        objects[name] = model.from_db(connection.alias, [f.attname for f in fields], converted)
    found = objects["doi"]
    if objects["collection"] is not None:
        found.collection = objects["collection"]
    if objects["version"] is not None:
        version = objects["version"]
        if objects["version_collection"] is not None:
            version.collection = objects["version_collection"]
        found.version = version
    return found


def _convert(field, value, connection):
    from django.db.models.expressions import Col

    for converter in connection.ops.get_db_converters(Col("", field)) + field.get_db_converters(connection):
        value = converter(value, Col("", field), connection)
    return value


_KEY_STATEMENTS: dict[str, tuple[str, list]] = {}


def _key_statement(alias: str) -> tuple[str, list]:
    """(SQL, [(name, model, fields)]) of resolve_for_key's one query, built from the models."""
    if alias in _KEY_STATEMENTS:
        return _KEY_STATEMENTS[alias]
    from django.db import connections

    qn = connections[alias].ops.quote_name
    version_fields = ("id", "withdrawn_at", "collection_id")
    parts = [("doi", DOI, _KEY_FIELDS, "d"), ("collection", Collection, _COLLECTION_KEY_FIELDS, "c"),
             ("version", CollectionVersion, version_fields, "v"),
             ("version_collection", Collection, _COLLECTION_KEY_FIELDS, "vc")]
    layout, columns = [], []
    for name, model, names, table_alias in parts:
        wanted = {model._meta.get_field(n.removesuffix("_id") if n.endswith("_id") else n) for n in names}
        fields = [f for f in model._meta.concrete_fields if f in wanted]  # from_db takes this order
        layout.append((name, model, fields))
        columns += [f"{table_alias}.{qn(f.column)}" for f in fields]
    d, c, v = (m._meta for m in (DOI, Collection, CollectionVersion))
    sql = (f"SELECT {', '.join(columns)} FROM {qn(d.db_table)} d "
           f"LEFT JOIN {qn(c.db_table)} c ON c.{qn(c.pk.column)} = d.{qn(d.get_field('collection').column)} "
           f"LEFT JOIN {qn(v.db_table)} v ON v.{qn(v.pk.column)} = d.{qn(d.get_field('version').column)} "
           f"LEFT JOIN {qn(c.db_table)} vc ON vc.{qn(c.pk.column)} = v.{qn(v.get_field('collection').column)} "
           f"WHERE d.{qn(d.get_field('doi').column)} = %s")
    _KEY_STATEMENTS[alias] = sql, layout
    return sql, layout


def _hidden_collections():
    return Collection.objects.exclude(status__in=PUBLIC_STATUSES)


def subset_visible(subset, user) -> bool:
    """Every collection the subset draws on is one `user` may see (catalogue level)."""
    if roles.is_curator(user):
        return True
    return not subset.items.filter(series__collection__in=_hidden_collections()).exists()


def doi_available(doi: DOI, user) -> bool:
    """Whether the data a DOI names may be shown to `user`: its collection, or every collection
    of its subset, is public (or the user is staff). An analysis-results DOI stands for its own
    files; its sources that are not public are left out of its page instead."""
    if roles.is_curator(user):
        return True
    if doi.kind == DOI.Kind.SUBSET:
        return doi.subset is not None and subset_visible(doi.subset, user)
    if doi.kind == DOI.Kind.DERIVED:
        return True
    collection = doi.collection or (doi.version.collection if doi.version_id else None)
    return collection is not None and collection.is_public


def findable_dois(user):
    """The DOIs `user` may find in lists (the /doi/ list, the REST API): no drafts, and none
    resting on a collection that is not public, except for staff."""
    qs = DOI.objects.all()
    if roles.is_curator(user):
        return qs
    hidden = _hidden_collections()
    return (qs.exclude(state=DOI.State.DRAFT).exclude(collection__in=hidden).exclude(version__collection__in=hidden)
            .exclude(subset__items__series__collection__in=hidden))


def visible_sources(dataset, user):
    """The source collections of an analysis-results dataset that `user` may see."""
    return dataset.sources.filter(pk__in=Collection.objects.visible_to(user))


def dois_pointing_to(collection: Collection) -> dict:
    """Subset and derived DOIs that name `collection` as a source, for reverse relations
    (a subset that also draws on a collection that is not public is left out)."""
    subsets = (DOI.objects.filter(kind=DOI.Kind.SUBSET, subset__in=subsets_from(collection)).exclude(state=DOI.State.DRAFT)
               .exclude(subset__items__series__collection__in=_hidden_collections()))
    derived = DOI.objects.filter(
        Q(kind=DOI.Kind.DERIVED) & Q(derived__sources=collection) & Q(derived__status="published")
    ).exclude(state=DOI.State.DRAFT)
    return {"subsets": list(subsets), "derived": list(derived)}
