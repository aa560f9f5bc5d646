"""NBIA's v4 simple search: `getSimpleSearch` (JSON patient summary) and
`getManifestForSimpleSearch` (a `.tcia` manifest of the matching series), POST forms of
`criteriaType{i}` / `value{i}` pairs, read as NBIA's SearchUtil.getPatients_v4 reads them.

Criteria (all optional; several values of one criterion are OR-ed, criteria are AND-ed):
CollectionCriteria, SpeciesCriteria (NPEX codes as tcia_utils sends them, or names),
ImageModalityCriteria (with ModalityAndedSearchCriteria=all a patient needs every listed
modality), AnatomicalSiteCriteria / BodyPartExaminedCriteria, ManufacturerCriteria,
PatientCriteria, MinNumberOfStudiesCriteria, and DateRangeCriteria (`fromDate{i}`/`toDate{i}`,
MM-dd-yyyy, on the series' release date as NBIA's DICOMQueryHandlerImpl compares it). tcia_utils
3.3.5 sends the date criterion's type as `Criteria.DateRange` (the Python enum's str());
NBIA ignores that silently, this server honours it. Paging `start`/`size`, sorting
`sortField` (collection, subject, study/studies/totalNumberOfStudies,
series/totalNumberOfSeries) and `sortDirection`.
"""
import datetime as dt
import json
from collections import defaultdict

from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone

from .queries import ApiError, series_base

CRITERIA = {
    "collectioncriteria": "collection", "speciescriteria": "species", "imagemodalitycriteria": "modality",
    "anatomicalsitecriteria": "body_part", "bodypartexaminedcriteria": "body_part",
    "manufacturercriteria": "manufacturer", "patientcriteria": "patient",
    "minnumberofstudiescriteria": "min_studies", "modalityandedsearchcriteria": "modality_anded",
    "daterangecriteria": "date_range", "criteria.daterange": "date_range",
}
# NPEX species codes (tcia_utils NPEXSpecies) and the names a collection's species may carry.
SPECIES_CODES = {"337915000": "human", "447612001": "mouse", "448771007": "dog"}
SORTS = {
    "collection": lambda p: (p["project"].upper(), p["subjectId"]),
    "subject": lambda p: (p["subjectId"], p["project"]),
    "study": lambda p: p["totalNumberOfStudies"], "studies": lambda p: p["totalNumberOfStudies"],
    "totalnumberofstudies": lambda p: p["totalNumberOfStudies"],
    "series": lambda p: p["totalNumberOfSeries"], "totalnumberofseries": lambda p: p["totalNumberOfSeries"],
}
# What the views accept ("{i}": any index, nbia.views.NUMBERED); nbia/openapi.py documents it.
PARAMETERS = ("criteriaType{i}", "value{i}", "fromDate{i}", "toDate{i}", "sortField", "sortDirection", "start",
              "size", "tool")


def _mdy(value: str, name: str) -> dt.datetime:
    try:
        day = dt.datetime.strptime(value.strip(), "%m-%d-%Y")
    except ValueError:
        raise ApiError(f"The {name} parameter must be a date in the format MM-dd-yyyy, not {value!r}.") from None
    return timezone.make_aware(day, dt.timezone.utc)


def parse_criteria(params) -> dict:
    wanted = defaultdict(list)
    i = 0
    while params.get(f"criteriaType{i}") is not None:
        kind = CRITERIA.get(params.get(f"criteriaType{i}").strip().lower())
        value = (params.get(f"value{i}") or "").strip()
        if kind == "date_range":
            start, end = params.get(f"fromDate{i}"), params.get(f"toDate{i}")
            if not start or not end:
                raise ApiError(f"A date range needs fromDate{i} and toDate{i} (MM-dd-yyyy).")
            wanted["date_range"] = [(_mdy(start, f"fromDate{i}"), _mdy(end, f"toDate{i}") + dt.timedelta(days=1))]
        elif kind == "min_studies":
            try:
                wanted["min_studies"] = [int(value)]
            except ValueError:
                raise ApiError(f"value{i} of MinNumberOfStudiesCriteria must be a number, not {value!r}.") from None
        elif kind is not None and value:
            wanted[kind].append(value)
        i += 1
    return wanted


def _int(params, name, default):
    from tcia.core.params import whole_number

    try:
        return whole_number(params, name, default)
    except ValueError as exc:
        raise ApiError(str(exc)) from None


def matching_series(ctx, wanted) -> list[dict]:
    """The released series the criteria select, with what the summary needs, one query."""
    qs = series_base(ctx)
    if wanted.get("collection"):
        ids = [i for name in wanted["collection"] for i in (ctx.ids_named(name) or [])]
        qs = qs.filter(collection_id__in=ids)
    for kind, field in (("modality", "modality"), ("body_part", "body_part_examined"),
                        ("manufacturer", "manufacturer"), ("patient", "subject__patient_id")):
        if wanted.get(kind):
            any_of = Q()
            for value in wanted[kind]:
                any_of |= Q(**{f"{field}__iexact": value})
            qs = qs.filter(any_of)
    if wanted.get("date_range"):
        start, end = wanted["date_range"][0]
        qs = qs.filter(date_released__gte=start, date_released__lt=end)
    rows = list(qs.values("id", "study_id", "subject_id", "subject__patient_id", "collection_id", "modality",
                          "body_part_examined", "subject__species_code", "subject__species_description",
                          "series_instance_uid").order_by("subject__patient_id", "study_id", "id"))
    if wanted.get("species"):
        names = {SPECIES_CODES.get(v, v).lower() for v in wanted["species"]}
        codes = set(wanted["species"])

        def species_ok(r):
            info = ctx.collections.get(r["collection_id"])
            described = (r["subject__species_description"] or (info.species if info else "")).lower()
            return r["subject__species_code"] in codes or described in names

        rows = [r for r in rows if species_ok(r)]
    return rows


def summary(ctx, params) -> tuple[dict, list[dict]]:
    """(the getSimpleSearch JSON object, the series of the returned patients)."""
    wanted = parse_criteria(params)
    rows = [r for r in matching_series(ctx, wanted) if r["collection_id"] in ctx.collections]
    by_subject: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_subject[r["subject_id"]].append(r)
    modalities_needed = {m.upper() for m in wanted.get("modality", [])}
    anded = any(v.lower() == "all" for v in wanted.get("modality_anded", []))
    patients = []
    for subject_id, series in by_subject.items():
        mods = {s["modality"] for s in series if s["modality"]}
        if anded and modalities_needed - {m.upper() for m in mods}:
            continue
        studies: dict[int, list[dict]] = defaultdict(list)
        for s in series:
            studies[s["study_id"]].append(s)
        if wanted.get("min_studies") and len(studies) < wanted["min_studies"][0]:
            continue
        info = ctx.collections[series[0]["collection_id"]]
        species = {s["subject__species_description"] or info.species for s in series if s["subject__species_description"] or info.species}
        patients.append({
            "subjectId": series[0]["subject__patient_id"],
            "authorized": info.authorized,
            "project": info.name,
            "id": subject_id,
            "studyIdentifiers": [
                {"studyIdentifier": study_id, "seriesIdentifiers": [s["id"] for s in items],
                 "seriesAndModality": [{"seriesId": s["id"], "modality": s["modality"]} for s in items]}
                for study_id, items in studies.items()
            ],
            "totalNumberOfSeries": len(series),
            "totalNumberOfStudies": len(studies),
            "modalities": sorted(mods),
            "bodyParts": sorted({s["body_part_examined"] for s in series if s["body_part_examined"]}),
            "species": sorted(species),
            "timepoints": {},
            "_series": series,
        })
    field = (params.get("sortField") or "collection").strip().lower()
    key = SORTS.get(field, SORTS["collection"])
    descending = (params.get("sortDirection") or "ascending").strip().lower() == "descending"
    patients.sort(key=key, reverse=descending)
    start, size = _int(params, "start", 0), _int(params, "size", 10)
    page = patients[start:start + size]

    def counts(values_of):
        tally: dict[str, int] = defaultdict(int)
        for p in patients:
            for v in values_of(p):
                tally[v] += 1
        return [{"value": v, "count": n} for v, n in sorted(tally.items())]

    result = {
        "resultSet": [{k: v for k, v in p.items() if k != "_series"} for p in page],
        "totalPatients": len(patients),
        "bodyParts": counts(lambda p: p["bodyParts"]),
        "modalities": counts(lambda p: p["modalities"]),
        "collections": counts(lambda p: [p["project"]]),
        "species": counts(lambda p: p["species"]),
        "maxTimepoints": {},
        "minTimepoints": {},
        "sort": f"{params.get('sortField') or 'collection'}-{params.get('sortDirection') or 'ascending'}",
    }
    return result, [s for p in page if p["authorized"] == 1 for s in p["_series"]]


def get_simple_search(request, ctx, params):
    result, _series = summary(ctx, params)
    return HttpResponse(json.dumps(result, separators=(",", ":")).encode("utf-8"), content_type="application/json")


def get_manifest_for_simple_search(request, ctx, params):
    """A `.tcia` manifest of the returned patients' series the caller may download (NBIA lists
    the series of authorized patients only), in the same six-line header as every manifest."""
    from .extras import manifest_response

    _result, series = summary(ctx, params)
    return manifest_response(request, [s["series_instance_uid"] for s in series], include_annotation=False)
