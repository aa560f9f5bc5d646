"""Publication metadata: what a curator enters before a version is minted, as one plain dict
(the publish page's form, `manage.py publish` options and its YAML file all produce it):

    summary: "Abstract shown first on the landing page and sent as the DataCite Abstract"
    description: "Longer description (optional)"
    license: CC-BY-4.0
    notes: "What changed since the previous version"
    creators:     [{name_type: Personal, given: Jane, family: Doe, orcid: 0000-0002-1825-0097, affiliation: …}]
    contributors: [{contributor_type: DataCurator, name_type: Personal, given: …, family: …, orcid: …, affiliation: …}]
    keywords:     [lung, CT]
    funding:      [{funder_name: National Cancer Institute, funder_identifier: https://ror.org/040gcmg81,
                    award_number: U01CA000000, award_title: …}]
    related:      [{relation: IsDescribedBy, citation: "Doe J et al. …", doi: 10.1000/xyz, pmid: "", url: ""}]

`problems(data, collection)` is the publication gate: every field DataCite or the landing page
needs, with a message naming the field and the reason.
"""
import re

from collections_app.models import CollectionVersion, License
from doi.models import ContributorType, NameType, PublicationInfo, RelatedPublication

ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
DOI = re.compile(r"^10\.\d{4,9}(?:\.\d+)*/\S+$")
PMID = re.compile(r"^\d{1,10}$")
SUMMARY_MIN, SUMMARY_MAX = 50, 5000  # schema.org Dataset description (Google Dataset Search)
LIST_FIELDS = ("creators", "contributors", "keywords", "funding", "related")


def empty() -> dict:
    return {"summary": "", "description": "", "license": License.CC_BY_4, "notes": "",
            "creators": [], "contributors": [], "keywords": [], "funding": [], "related": []}


def orcid_ok(value: str) -> bool:
    """ORCID iD shape and its ISO 7064 11,2 check digit."""
    if not ORCID.match(value):
        return False
    digits = value.replace("-", "")
    total = 0
    for ch in digits[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return digits[-1] == ("X" if check == 10 else str(check))


def clean_orcid(value: str) -> str:
    value = (value or "").strip()
    for prefix in ("https://orcid.org/", "http://orcid.org/", "orcid.org/"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    return value.upper()


def clean_doi(value: str) -> str:
    value = (value or "").strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):]
    return value.lower()


def normalize(data: dict) -> dict:
    """Strip whitespace, drop empty rows, canonical ORCID and DOI forms."""
    out = empty()
    for key in ("summary", "description", "license", "notes"):
        out[key] = str(data.get(key) or "").strip()
    out["license"] = out["license"] or License.CC_BY_4
    for key in ("creators", "contributors"):
        for row in data.get(key) or []:
            row = {k: str(v or "").strip() for k, v in dict(row).items()}
            if not any(row.get(f) for f in ("given", "family", "orcid", "affiliation")):
                continue
            row["orcid"] = clean_orcid(row.get("orcid", ""))
            row["name_type"] = row.get("name_type") or (NameType.PERSONAL if row.get("given") else NameType.ORGANIZATIONAL)
            if key == "contributors":
                row["contributor_type"] = row.get("contributor_type") or ContributorType.OTHER
            out[key].append({f: row.get(f, "") for f in
                             ("name_type", "given", "family", "orcid", "affiliation")
                             + (("contributor_type",) if key == "contributors" else ())})
    words = data.get("keywords") or []
    if isinstance(words, str):
        words = re.split(r"[,\n;]", words)
    seen = set()
    for w in words:
        w = str(w).strip()
        if w and w.lower() not in seen:
            seen.add(w.lower())
            out["keywords"].append(w)
    for row in data.get("funding") or []:
        row = {k: str(v or "").strip() for k, v in dict(row).items()}
        if any(row.values()):
            out["funding"].append({f: row.get(f, "") for f in ("funder_name", "funder_identifier", "award_number", "award_title")})
    for row in data.get("related") or []:
        row = {k: str(v or "").strip() for k, v in dict(row).items()}
        if not any(row.get(f) for f in ("citation", "doi", "pmid", "url")):
            continue
        row["doi"] = clean_doi(row.get("doi", ""))
        row["relation"] = row.get("relation") or RelatedPublication.Relation.IS_DESCRIBED_BY
        out["related"].append({f: row.get(f, "") for f in ("relation", "citation", "doi", "pmid", "url")})
    return out


def problems(data: dict, collection, *, site_name: str = "") -> dict[str, list[str]]:
    """The publication gate: field → reasons it cannot be minted yet (empty when complete)."""
    errs: dict[str, list[str]] = {}

    def bad(field, message):
        errs.setdefault(field, []).append(message)

    summary = data.get("summary", "")
    if not summary:
        bad("summary", "An abstract is required: it is the DataCite Abstract and the first thing the landing page shows.")
    elif len(summary) < SUMMARY_MIN:
        bad("summary", f"The abstract is {len(summary)} characters; write at least {SUMMARY_MIN} (search engines ignore shorter ones).")
    elif len(summary) > SUMMARY_MAX:
        bad("summary", f"The abstract is {len(summary)} characters; keep it within {SUMMARY_MAX}.")
    if data.get("license") not in License.values:
        bad("license", f"Unknown license {data.get('license')!r}; choose one of {', '.join(License.values)}.")
    elif data["license"] == License.TCIA_RESTRICTED and not (collection.data_use_agreement or "").strip():
        bad("license", "A restricted license needs the collection's data use agreement text first.")
    creators = data.get("creators", [])
    if not creators:
        bad("creators", "Name at least one creator: DataCite requires one, and the citation names them.")
    publisher = (site_name or "").strip().lower()
    for i, c in enumerate(creators, 1):
        _person_problems(bad, "creators", i, c, publisher)
    for i, c in enumerate(data.get("contributors", []), 1):
        _person_problems(bad, "contributors", i, c, "")
        if c.get("contributor_type") not in ContributorType.values:
            bad("contributors", f"Contributor {i}: unknown role {c.get('contributor_type')!r}.")
    if not data.get("keywords"):
        bad("keywords", "Give at least one keyword (DataCite subjects; shown on the landing page).")
    for i, f in enumerate(data.get("funding", []), 1):
        if not f.get("funder_name"):
            bad("funding", f"Funding {i}: the funder's name is required.")
        ident = f.get("funder_identifier", "")
        if ident and not ident.startswith(("https://ror.org/", "https://doi.org/10.13039/", "http://dx.doi.org/10.13039/")):
            bad("funding", f"Funding {i}: the funder identifier must be a ROR (https://ror.org/…) or Crossref Funder ID "
                           "(https://doi.org/10.13039/…) URL.")
    for i, r in enumerate(data.get("related", []), 1):
        if r.get("relation") not in RelatedPublication.Relation.values:
            bad("related", f"Publication {i}: unknown relation {r.get('relation')!r}.")
        if not r.get("citation"):
            bad("related", f"Publication {i}: the reference text (citation) is required.")
        if not (r.get("doi") or r.get("pmid") or r.get("url")):
            bad("related", f"Publication {i}: give its DOI, PMID or URL.")
        if r.get("doi") and not DOI.match(r["doi"]):
            bad("related", f"Publication {i}: {r['doi']!r} is not a DOI (10.<registrant>/<suffix>).")
        if r.get("pmid") and not PMID.match(r["pmid"]):
            bad("related", f"Publication {i}: the PMID must be digits only.")
    if collection.pk and CollectionVersion.objects.filter(collection=collection).exists() and not data.get("notes"):
        bad("notes", "Say what changed since the previous version (release notes).")
    return errs


def _person_problems(bad, field, i, c, publisher):
    label = f"{'Creator' if field == 'creators' else 'Contributor'} {i}"
    if c.get("name_type") == NameType.PERSONAL:
        if not c.get("family") or not c.get("given"):
            bad(field, f"{label}: a person needs a family name and a given name.")
    elif c.get("name_type") == NameType.ORGANIZATIONAL:
        if not c.get("family"):
            bad(field, f"{label}: the organization's name is required.")
    else:
        bad(field, f"{label}: name type must be Personal or Organizational.")
    if publisher and c.get("family", "").strip().lower() == publisher:
        bad(field, f"{label}: the archive is the publisher; credit the people or groups who made the data.")
    if c.get("orcid") and not orcid_ok(c["orcid"]):
        bad(field, f"{label}: {c['orcid']!r} is not a valid ORCID iD (0000-0002-1825-0097; the last digit is a checksum).")


def current(collection) -> dict:
    """The collection's publication metadata as applied now (live rows)."""
    data = empty()
    data.update(summary=collection.summary, description=collection.description, license=collection.license)
    data["creators"] = [c.as_dict() for c in collection.doi_creators.all()]
    data["contributors"] = [c.as_dict() for c in collection.doi_contributors.all()]
    data["related"] = [{"relation": r.relation, "citation": r.citation, "doi": r.doi, "pmid": r.pmid, "url": r.url}
                       for r in collection.related_publications.all()]
    try:
        info = collection.publication_info
        data["keywords"], data["funding"] = list(info.keywords), list(info.funding)
    except PublicationInfo.DoesNotExist:
        pass
    return data


def from_proposal(collection, data: dict) -> dict:
    """Fill what is still empty from the accepted proposal the collection came from: its
    submitter as creator, description, requested license, keywords from cancer type, sites and
    modalities."""
    proposal = getattr(collection, "proposal", None)
    if proposal is None:
        return data
    data = dict(data)
    if not data["creators"]:
        u = proposal.submitter
        if u.last_name or u.first_name:
            data["creators"] = [{"name_type": NameType.PERSONAL, "given": u.first_name, "family": u.last_name,
                                 "orcid": "", "affiliation": ""}]
    if not data["summary"] or data["summary"] == collection.summary == "":
        first = (proposal.description or "").strip().split("\n\n")[0]
        data["summary"] = data["summary"] or first
    if not data["description"]:
        data["description"] = "\n\n".join(t for t in (proposal.description, proposal.clinical_data and
                                                      f"Clinical data: {proposal.clinical_data}",
                                                      proposal.analysis_results and f"Analysis results: {proposal.analysis_results}")
                                          if t)
    if not data["keywords"]:
        words = [proposal.cancer_type] + [s.name for s in proposal.anatomic_sites.all()] + [m.code for m in proposal.modalities.all()]
        data["keywords"] = [w for w in words if w]
    if data["license"] == collection.license and proposal.license_requested:
        data["license"] = proposal.license_requested
    return data


def initial(collection) -> dict:
    """What the publish page starts from: the live metadata, completed from the proposal."""
    return from_proposal(collection, current(collection))
