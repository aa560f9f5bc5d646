"""DataCite Metadata Schema 4.5 JSON for every kind of DOI, rebuilt from the database.

`build(doi)` returns the complete record; `validate(record)` checks it with the `datacite`
package's schema45 JSON Schema and also insists on the `doi` field, which the JSON Schema
leaves optional but the XML schema requires. Nothing is sent to a registry unvalidated.
`to_xml(record)` is the kernel-4 XML via `datacite.schema45.tostring`.
"""
from django.utils import timezone

from collections_app.models import LICENSE_URLS, License

from . import conf, selectors
from .models import DOI, DatasetStatus, NameType

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"

LICENSE_TITLES = {
    License.CC_BY_3: "Creative Commons Attribution 3.0 Unported",
    License.CC_BY_NC_3: "Creative Commons Attribution Non Commercial 3.0 Unported",
    License.CC_BY_4: "Creative Commons Attribution 4.0 International",
    License.CC_BY_NC_4: "Creative Commons Attribution Non Commercial 4.0 International",
    License.TCIA_RESTRICTED: "TCIA Restricted License",
}


class MetadataInvalid(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def rights(license_code: str) -> list[dict]:
    entry = {"rights": LICENSE_TITLES.get(license_code, license_code)}
    url = LICENSE_URLS.get(license_code, "")
    if url:
        entry["rightsUri"] = url
    if license_code.startswith("CC-"):
        entry.update({"rightsIdentifier": license_code, "rightsIdentifierScheme": "SPDX", "schemeUri": "https://spdx.org/licenses/"})
    return [entry]


def creator_json(c: dict) -> dict:
    """c: {name_type, given, family, orcid, affiliation} (the shape CollectionCreator.as_dict gives)."""
    name_type = c.get("name_type") or (NameType.PERSONAL if c.get("given") else NameType.ORGANIZATIONAL)
    family = (c.get("family") or c.get("name") or "").strip()
    given = (c.get("given") or "").strip()
    out = {"nameType": str(name_type)}
    if name_type == NameType.PERSONAL and given:
        out.update({"name": f"{family}, {given}", "givenName": given, "familyName": family})
    else:
        out["name"] = family
    if c.get("orcid"):
        out["nameIdentifiers"] = [{
            "nameIdentifier": f"https://orcid.org/{c['orcid']}", "nameIdentifierScheme": "ORCID", "schemeUri": "https://orcid.org",
        }]
    if c.get("affiliation"):
        out["affiliation"] = [{"name": c["affiliation"]}]
    return out


def contributor_json(c: dict) -> dict:
    out = creator_json(c)
    out["contributorType"] = c.get("contributor_type") or "Other"
    return out


def funding_json(f: dict) -> dict:
    out = {"funderName": f["funder_name"]}
    ident = (f.get("funder_identifier") or "").strip()
    if ident:
        kind = "ROR" if "ror.org/" in ident else "Crossref Funder ID" if "10.13039/" in ident else "Other"
        out.update({"funderIdentifier": ident, "funderIdentifierType": kind})
    if f.get("award_number"):
        out["awardNumber"] = f["award_number"]
    if f.get("award_title"):
        out["awardTitle"] = f["award_title"]
    return out


def _creators(rows: list[dict]) -> list[dict]:
    rows = [r for r in rows if (r.get("family") or r.get("name"))]
    if not rows:
        # DataCite requires a creator; until the submitters are entered the archive is credited.
        rows = [{"name_type": NameType.ORGANIZATIONAL, "family": conf.publisher_name()}]
    return [creator_json(r) for r in rows]


def _rel(relation: str, doi: str) -> dict:
    return {"relatedIdentifier": doi, "relatedIdentifierType": "DOI", "relationType": relation}


def _info(collection):
    from .models import PublicationInfo

    try:
        return collection.publication_info
    except PublicationInfo.DoesNotExist:
        return None


def _subjects(collection, facts: dict | None = None) -> list[dict]:
    out = []
    info = _info(collection)
    for word in (info.keywords if info else []):
        out.append({"subject": word})
    if collection.cancer_type:
        out.append({"subject": collection.cancer_type})
    for site in collection.anatomic_sites.all():
        out.append({"subject": site.name})
    mods = set((facts or {}).get("modalities") or []) | set(collection.modalities.values_list("code", flat=True))
    for code in sorted(mods):
        out.append({"subject": code})
    seen, unique = set(), []
    for s in out:
        if s["subject"].lower() not in seen:
            seen.add(s["subject"].lower())
            unique.append(s)
    return unique


def _publication_relations(collection) -> list[dict]:
    out = []
    for pub in collection.related_publications.all():
        if pub.doi:
            out.append({"relatedIdentifier": pub.doi, "relatedIdentifierType": "DOI", "relationType": pub.relation})
        elif pub.pmid:
            out.append({"relatedIdentifier": pub.pmid, "relatedIdentifierType": "PMID", "relationType": pub.relation})
        elif pub.url:
            out.append({"relatedIdentifier": pub.url, "relatedIdentifierType": "URL", "relationType": pub.relation})
    return out


def _reverse_source_relations(collection, target_doi: DOI) -> list[dict]:
    """HasPart/IsSourceOf for subsets and analysis results that name this DOI as their source."""
    out = []
    pointing = selectors.dois_pointing_to(collection)
    for subset_doi in pointing["subsets"]:
        if target_doi.doi in {r.doi for r in subset_targets(subset_doi.subset)}:
            out += [_rel("HasPart", subset_doi.doi), _rel("IsSourceOf", subset_doi.doi)]
    if target_doi.kind == DOI.Kind.CONCEPT:
        for derived_doi in pointing["derived"]:
            out.append(_rel("IsSourceOf", derived_doi.doi))
    return out


def subset_targets(subset) -> list[DOI]:
    """The DOIs a subset is part of: per item, the pinned version's DOI, or the concept DOI."""
    targets = {}
    for item in subset.items.select_related("version", "series__collection"):
        d = selectors.version_doi(item.version) or selectors.concept_doi(item.series.collection)
        if d is not None:
            targets[d.doi] = d
    return [targets[k] for k in sorted(targets)]


def _base(doi: DOI, *, title: str, creators: list[dict], year: int, resource_type: str, license_code: str) -> dict:
    return {
        "doi": doi.doi,
        "prefix": doi.doi.split("/", 1)[0],
        "suffix": doi.doi.split("/", 1)[1],
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": resource_type},
        "creators": _creators(creators),
        "titles": [{"title": title}],
        "publisher": {"name": conf.publisher_name()},
        "publicationYear": str(year),
        "rightsList": rights(license_code),
        "schemaVersion": SCHEMA_VERSION,
        "language": "en",
    }


def _descriptions(summary: str, description: str, withdrawn: str = "") -> list[dict]:
    out = []
    if summary:
        out.append({"description": summary, "descriptionType": "Abstract"})
    if description and description != summary:
        out.append({"description": description, "descriptionType": "Other"})
    if withdrawn:
        out.append({"description": f"Withdrawn: {withdrawn}", "descriptionType": "Other"})
    return out


def _sizes(facts: dict) -> list[str]:
    out = []
    for key, label in (("subjects", "subjects"), ("studies", "studies"), ("series", "series"), ("images", "images"), ("files", "files")):
        if facts.get(key):
            out.append(f"{facts[key]} {label}")
    if facts.get("bytes"):
        out.append(f"{facts['bytes']} bytes")
    return out


def _collection_record(doi: DOI, collection, version) -> dict:
    """Concept DOI (version=None → describes the latest version) or a version DOI."""
    shown = version or selectors.latest_version(collection) or selectors.published_versions(collection).first()
    facts = selectors.version_facts(shown) if shown else {}
    first = selectors.published_versions(collection).order_by("number").first()
    issued = (first.release_date if version is None and first else (shown.release_date if shown else timezone.now().date()))
    creators = [c.as_dict() for c in collection.doi_creators.all()]
    record = _base(
        doi, title=collection.title, creators=creators, year=issued.year,
        resource_type="DICOM imaging collection", license_code=collection.license,
    )
    withdrawn_reason = ""
    if version is not None and version.withdrawn_at:
        withdrawn_reason = version.withdrawn_reason or "withdrawn"
    record["descriptions"] = _descriptions(collection.summary, collection.description, withdrawn_reason)
    record["subjects"] = _subjects(collection, facts)
    contributors = [contributor_json(c.as_dict()) for c in collection.doi_contributors.all()
                    if c.family_name.strip()]
    if contributors:
        record["contributors"] = contributors
    info = _info(collection)
    funding = [funding_json(f) for f in (info.funding if info else []) if f.get("funder_name")]
    if funding:
        record["fundingReferences"] = funding
    record["alternateIdentifiers"] = [{"alternateIdentifier": collection.short_name, "alternateIdentifierType": "Collection short name"}]
    record["formats"] = ["application/dicom"]
    record["sizes"] = _sizes(facts)
    from supporting.publishing import datacite_parts

    extra_formats, extra_sizes = datacite_parts(shown)  # the version's supporting files
    record["formats"] += [f for f in extra_formats if f not in record["formats"]]
    record["sizes"] += extra_sizes
    if shown:
        record["version"] = str(shown.number)
    dates = [{"date": issued.isoformat(), "dateType": "Issued"}]
    if shown and shown.release_date != issued:
        dates.append({"date": shown.release_date.isoformat(), "dateType": "Updated"})
    if version is not None and version.withdrawn_at:
        dates.append({"date": version.withdrawn_at.date().isoformat(), "dateType": "Withdrawn"})
    record["dates"] = dates

    related = []
    concept = selectors.concept_doi(collection)
    if version is None:
        for v in DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=collection).order_by("version__number"):
            related.append(_rel("HasVersion", v.doi))
    else:
        if concept is not None:
            related.append(_rel("IsVersionOf", concept.doi))
        major = list(
            DOI.objects.filter(kind=DOI.Kind.VERSION, version__collection=collection).order_by("version__number").select_related("version")
        )
        numbers = [d.version.number for d in major]
        if version.number in numbers:
            i = numbers.index(version.number)
            if i > 0:
                related.append(_rel("IsNewVersionOf", major[i - 1].doi))
            if i + 1 < len(major):
                related.append(_rel("IsPreviousVersionOf", major[i + 1].doi))
    related += _reverse_source_relations(collection, doi)
    related += _publication_relations(collection)
    if related:
        record["relatedIdentifiers"] = related
    return record


def _subset_record(doi: DOI, subset) -> dict:
    facts = selectors.subset_facts(subset)
    year = (subset.decided_at or subset.created_at or timezone.now()).year
    creators = subset.creators or []
    if not creators and subset.requested_by_id:
        u = subset.requested_by
        creators = [{"name_type": NameType.PERSONAL, "given": u.first_name, "family": u.last_name or u.username}]
    collections = sorted({i.series.collection for i in subset.items.select_related("series__collection")}, key=lambda c: c.title)
    # A selection across collections carries the most restrictive of their licenses.
    order = [License.CC_BY_4, License.CC_BY_3, License.CC_BY_NC_4, License.CC_BY_NC_3, License.TCIA_RESTRICTED]
    licenses = {c.license for c in collections} or {License.CC_BY_3}
    license_code = max(licenses, key=lambda x: order.index(x) if x in order else len(order))
    record = _base(doi, title=subset.title, creators=creators, year=year,
                   resource_type="Subset of DICOM imaging collections", license_code=license_code)
    withdrawn = subset.decision_note if subset.status == DatasetStatus.WITHDRAWN else ""
    record["descriptions"] = _descriptions(subset.description, "Series selected from: " + ", ".join(c.title for c in collections), withdrawn)
    record["subjects"] = [{"subject": m} for m in facts["modalities"]]
    record["formats"] = ["application/dicom"]
    record["sizes"] = _sizes(facts)
    record["dates"] = [{"date": (subset.decided_at or timezone.now()).date().isoformat(), "dateType": "Issued"}]
    related = []
    for target in subset_targets(subset):
        related += [_rel("IsPartOf", target.doi), _rel("IsDerivedFrom", target.doi)]
    if related:
        record["relatedIdentifiers"] = related
    return record


def _derived_record(doi: DOI, dataset) -> dict:
    facts = selectors.derived_facts(dataset)
    year = (dataset.published_at or timezone.now()).year
    record = _base(doi, title=dataset.title, creators=dataset.creators or [], year=year,
                   resource_type=dataset.result_type or "Analysis Results", license_code=dataset.license)
    withdrawn = dataset.withdrawn_reason if dataset.status == DatasetStatus.WITHDRAWN else ""
    record["descriptions"] = _descriptions(dataset.summary, dataset.description, withdrawn)
    record["sizes"] = _sizes(facts)
    formats = sorted({f.stored_file.content_type for f in dataset.files.select_related("stored_file")} - {""})
    if formats:
        record["formats"] = formats
    record["dates"] = [{"date": (dataset.published_at or timezone.now()).date().isoformat(), "dateType": "Issued"}]
    related = []
    for source in dataset.sources.all().order_by("title"):
        concept = selectors.concept_doi(source)
        if concept is not None:
            related.append(_rel("IsDerivedFrom", concept.doi))
    from supporting.derived import version_dois

    for version_doi in version_dois(dataset):  # the versions its segmentations reference
        if all(r["relatedIdentifier"] != version_doi for r in related):
            related.append(_rel("IsDerivedFrom", version_doi))
    if related:
        record["relatedIdentifiers"] = related
    return record


def build(doi: DOI) -> dict:
    if doi.kind in (DOI.Kind.CONCEPT, DOI.Kind.VERSION):
        collection = doi.collection or doi.version.collection
        return _collection_record(doi, collection, doi.version if doi.kind == DOI.Kind.VERSION else None)
    if doi.kind == DOI.Kind.SUBSET:
        return _subset_record(doi, doi.subset)
    if doi.kind == DOI.Kind.DERIVED:
        return _derived_record(doi, doi.derived)
    raise ValueError(f"unknown DOI kind {doi.kind}")


def errors(record: dict) -> list[str]:
    from datacite import schema45

    out = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in schema45.validator.iter_errors(record)]
    if not record.get("doi"):
        out.append("doi: required by the DataCite XML schema")
    return out


def validate(record: dict) -> dict:
    problems = errors(record)
    if problems:
        raise MetadataInvalid(problems)
    return record


def to_xml(record: dict) -> str:
    from datacite import schema45

    return schema45.tostring(record)
