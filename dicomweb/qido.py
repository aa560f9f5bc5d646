"""QIDO-RS (PS3.18 §10.6): studies, series and instances of a scope, as DICOM JSON.

Answers come from the versions' frozen manifests (VersionSeries for study and series
attributes, VersionEntry for instances) in a fixed number of queries per request; a file is
opened only for instance attributes no table holds (BitsAllocated, `includefield` of other
tags), and then once per file ever (InstanceHeader).

Matching (PS3.4 C.2.2.2): single value (case-sensitive; PN case-insensitive), universal (empty
value), wildcard `*` and `?`, date ranges `A-B`, `A-`, `-B`, and UID lists (comma or backslash).
Study and series attributes no table holds (StudyTime, AccessionNumber, ReferringPhysicianName,
PatientBirthDate, SeriesTime, PerformedProcedureStep…) are returned from the first instance's
header; as match keys they are ignored with a `Warning: 299` header, as PS3.18 §8.3.4.3 allows.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db.models import Count, F, Min, Q
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from collections_app.models import Image, Subject, VersionEntry, VersionSeries

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A query parameter the server cannot read: 400 with this message."""


# Attributes: tag → (keyword, VR). Which of them each level returns.
STUDY_TAGS = ["00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081030",
              "00081190", "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206",
              "00201208"]
SERIES_TAGS = ["00080021", "00080056", "00080060", "00080070", "0008103E", "00081090", "00081190", "00180015",
               "00181020", "0020000E", "00200011", "00201209", "00400244", "00400245", "00400275"]
INSTANCE_TAGS = ["00080016", "00080018", "00080056", "00081190", "00200013", "00280008", "00280010", "00280011",
                 "00280100"]

# Match keys: keyword → (level, how, model field). `how`: uid, cs, pn, text, date, int.
STUDY_KEYS = {
    "StudyInstanceUID": ("uid", "study_instance_uid"),
    "StudyDate": ("date", "study_date"),
    "PatientName": ("pn", "patient_id"),
    "PatientID": ("text", "patient_id"),
    "StudyID": ("text", "study_id"),
    "StudyDescription": ("text", "study_description"),
    "ModalitiesInStudy": ("modalities", "modality"),
}
SERIES_KEYS = {
    "SeriesInstanceUID": ("uid", "series_instance_uid"),
    "Modality": ("cs", "modality"),
    "SeriesNumber": ("int_text", "series_number"),
    "SeriesDescription": ("text", "series_description"),
    "BodyPartExamined": ("cs", "body_part_examined"),
    "Manufacturer": ("text", "manufacturer"),
    "ManufacturerModelName": ("text", "manufacturer_model_name"),
    "SeriesDate": ("date", "series__series_date"),
}
INSTANCE_KEYS = {
    "SOPInstanceUID": ("uid", "sop_instance_uid"),
    "SOPClassUID": ("uid", "sop_class_uid"),
    "InstanceNumber": ("int", "instance_number"),
}
# Known attributes whose values the archive does not hold (de-identification empties most).
RESERVED = {"limit", "offset", "fuzzymatching", "includefield", "accept"}


@dataclass
class Query:
    study: list = field(default_factory=list)     # [(keyword, how, field, values)]
    series: list = field(default_factory=list)
    instance: list = field(default_factory=list)
    include: set = field(default_factory=set)     # tags (8 hex) asked for
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    warnings: list = field(default_factory=list)


def _keyword(name: str) -> str:
    """A match key as a keyword, from a keyword or an 8-hex-digit tag; QueryError otherwise."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        keyword = keyword_for_tag(int(name, 16))
        if not keyword:
            raise QueryError(f"Unknown attribute tag {name}.")
        return keyword
    if tag_for_keyword(name) is None:
        raise QueryError(f"Unknown attribute {name!r}: use a DICOM keyword or an 8-digit hex tag.")
    return name


def _tag_hex(name: str) -> str:
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        return name.upper()
    tag = tag_for_keyword(name)
    if tag is None:
        raise QueryError(f"Unknown includefield {name!r}: use a DICOM keyword, an 8-digit hex tag or 'all'.")
    return f"{tag:08X}"


def _int_param(params, name, default, low, high):
    from tcia.core.params import whole_number

    try:
        value = whole_number(params, name, default, low)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    return min(value, high) if (high and value is not None) else value


def parse(params, *, levels: tuple[str, ...], scoped: bool) -> Query:
    """Read QIDO query parameters. `levels` are the levels whose keys may be matched here
    (e.g. ("study", "series") for /series); `scoped` is True below a study or series (no
    default limit there)."""
    q = Query()
    tables = {"study": STUDY_KEYS, "series": SERIES_KEYS, "instance": INSTANCE_KEYS}
    ignored = []
    for name in params:
        if name in RESERVED:
            continue
        keyword = _keyword(name.split(".")[0])
        if "." in name:
            ignored.append(name)
            continue
        values = [v for v in params.getlist(name)]
        value = values[-1] if values else ""
        placed = False
        for level in levels:
            spec = tables[level].get(keyword)
            if spec is not None:
                getattr(q, level).append((keyword, spec[0], spec[1], value))
                placed = True
                break
        if not placed and value not in ("", "*"):
            ignored.append(keyword)
    if ignored:
        q.warnings.append(f'The following attributes are not supported for matching: {", ".join(sorted(set(ignored)))}')
    for raw in params.getlist("includefield"):
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item == "all":
                q.include_all = True
            else:
                q.include.add(_tag_hex(item))
    fuzzy = (params.get("fuzzymatching") or "false").strip().lower()
    if fuzzy not in ("true", "false"):
        raise QueryError("fuzzymatching must be true or false.")
    if fuzzy == "true":
        q.warnings.append("The fuzzymatching parameter is not supported. Only literal matching has been performed.")
    q.limit = _int_param(params, "limit", None if scoped else DEFAULT_LIMIT, 1, None if scoped else MAX_LIMIT)
    q.offset = _int_param(params, "offset", 0, 0, None)
    return q


# ------------------------------------------------------------------ matching

def _regex(pattern: str) -> str:
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"


def _date(text: str, keyword: str) -> dt.date:
    text = text.strip().replace("-", "") if len(text.strip()) == 10 else text.strip()
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise QueryError(f"{keyword}: {text!r} is not a date (YYYYMMDD).") from None


def _values(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,\\]", value) if v.strip()]


def match_q(keyword: str, how: str, path: str, value: str, prefix: str = "") -> Q | None:
    """The filter for one match key; None for universal matching."""
    value = value.strip()
    if value in ("", "*"):
        return None
    f = prefix + path
    if how == "uid":
        uids = _values(value)
        if any("*" in u or "?" in u for u in uids):
            raise QueryError(f"{keyword}: wildcards are not allowed in UIDs.")
        return Q(**{f"{f}__in": uids})
    if how in ("cs", "modalities"):
        codes = _values(value)
        if len(codes) == 1 and ("*" in codes[0] or "?" in codes[0]):
            return Q(**{f"{f}__regex": _regex(codes[0])})
        return Q(**{f"{f}__in": codes})
    if how == "date":
        if "-" in value and len(value) != 10:
            start, _, end = value.partition("-")
            q = Q()
            if start:
                q &= Q(**{f"{f}__gte": _date(start, keyword)})
            if end:
                q &= Q(**{f"{f}__lte": _date(end, keyword)})
            return q
        return Q(**{f: _date(value, keyword)})
    if how == "int":
        try:
            return Q(**{f: int(value)})
        except ValueError:
            raise QueryError(f"{keyword}: {value!r} is not a number.") from None
    if how == "int_text":
        try:
            number = int(value)
        except ValueError:
            raise QueryError(f"{keyword}: {value!r} is not a number.") from None
        return Q(**{f"{f}__in": [str(number), f"{number}.000000"]})
    insensitive = how == "pn"
    if "*" in value or "?" in value:
        return Q(**{f"{f}__{'iregex' if insensitive else 'regex'}": _regex(value)})
    return Q(**{f"{f}__{'iexact' if insensitive else 'exact'}": value})


def _apply(qs, matches, prefix=""):
    for keyword, how, path, value in matches:
        if how == "modalities":
            continue
        cond = match_q(keyword, how, path, value, prefix)
        if cond is not None:
            qs = qs.filter(cond)
    return qs


def _modalities_filter(qs, scope, matches):
    for keyword, how, path, value in matches:
        if how == "modalities":
            cond = match_q(keyword, how, "modality", value)
            if cond is not None:
                with_modality = VersionSeries.objects.filter(version_id__in=scope.version_ids).filter(cond)
                qs = qs.filter(study_instance_uid__in=with_modality.values("study_instance_uid"))
    return qs


# ------------------------------------------------------------------ JSON attributes

def _attr(vr: str, values=None) -> dict:
    values = [v for v in (values or []) if v not in (None, "")]
    if not values:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in values]}
    return {"vr": vr, "Value": values}


def _da(value) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def _is(value):
    if value in (None, ""):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@dataclass
class StudyFacts:
    row: dict
    modalities: set = field(default_factory=set)
    series: int = 0
    instances: int = 0
    summary: dict = field(default_factory=dict)


def _series_facts(pairs) -> dict:
    """(version id, series id) → (instance count, summary attributes of its first instance), in
    three queries (the headers of first instances are parsed once ever, then read back)."""
    from .headers import headers_for

    pairs = list(pairs)
    if not pairs:
        return {}
    q = Q()
    by_version: dict = {}
    for version_id, series_id in pairs:
        by_version.setdefault(version_id, []).append(series_id)
    for version_id, series_ids in by_version.items():
        q |= Q(version_id=version_id, series_id__in=series_ids)
    rows = VersionEntry.objects.filter(q).values("version_id", "series_id").annotate(n=Count("id"), first=Min("id")).order_by()
    firsts = {r["first"]: (r["version_id"], r["series_id"]) for r in rows}
    files = list(VersionEntry.objects.filter(id__in=list(firsts)).values_list("id", "stored_file_id", "stored_file__storage_name"))
    headers = headers_for([(fid, name) for _eid, fid, name in files])
    summaries = {firsts[eid]: (headers[fid].summary if fid in headers else {}) for eid, fid, _name in files}
    return {(r["version_id"], r["series_id"]): (r["n"], summaries.get((r["version_id"], r["series_id"]), {})) for r in rows}


SERIES_VALUES = ("id", "version_id", "series_id", "study_instance_uid", "study_date", "study_id", "study_description",
                 "patient_id", "series_instance_uid", "series_number", "series_description", "modality",
                 "body_part_examined", "manufacturer", "manufacturer_model_name", "software_versions",
                 "series__series_date", "series__subject_id")


def _sexes(subject_ids) -> dict:
    return dict(Subject.objects.filter(pk__in=set(subject_ids)).values_list("pk", "patient_sex"))


def _study_facts(scope, study_uids) -> dict[str, StudyFacts]:
    rows = list(VersionSeries.objects.filter(version_id__in=scope.version_ids, study_instance_uid__in=list(study_uids))
                .values(*SERIES_VALUES))
    counts = _series_facts((r["version_id"], r["series_id"]) for r in rows)
    sexes = _sexes(r["series__subject_id"] for r in rows)
    facts: dict[str, StudyFacts] = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        r["patient_sex"] = sexes.get(r["series__subject_id"], "")
        n, summary = counts.get((r["version_id"], r["series_id"]), (0, {}))
        f = facts.setdefault(r["study_instance_uid"], StudyFacts(r, summary=summary))
        if r["modality"]:
            f.modalities.add(r["modality"])
        f.series += 1
        f.instances += n
    return facts


def study_json(f: StudyFacts, urls) -> dict:
    r = f.row
    uid = r["study_instance_uid"]
    held = f.summary
    return {
        "00080005": _attr("CS", ["ISO_IR 192"]),
        "00080020": _attr("DA", [_da(r["study_date"])]),
        "00080030": held.get("00080030") or _attr("TM"),
        "00080050": held.get("00080050") or _attr("SH"),
        "00080056": _attr("CS", ["ONLINE"]),
        "00080061": _attr("CS", sorted(f.modalities)),
        "00080090": held.get("00080090") or _attr("PN"),
        **({"00080201": held["00080201"]} if "00080201" in held else {}),
        "00081030": _attr("LO", [r["study_description"]]),
        "00081190": _attr("UR", [urls.study(uid)]),
        "00100010": _attr("PN", [r["patient_id"]]),
        "00100020": _attr("LO", [r["patient_id"]]),
        "00100030": held.get("00100030") or _attr("DA"),
        "00100040": _attr("CS", [r.get("patient_sex")]),
        "0020000D": _attr("UI", [uid]),
        "00200010": _attr("SH", [r["study_id"]]),
        "00201206": _attr("IS", [f.series]),
        "00201208": _attr("IS", [f.instances]),
    }


def series_json(r: dict, facts: tuple, urls) -> dict:
    instances, held = facts
    return {
        "00080021": _attr("DA", [_da(r["series__series_date"])]),
        **({"00080031": held["00080031"]} if "00080031" in held else {}),
        "00080056": _attr("CS", ["ONLINE"]),
        "00080060": _attr("CS", [r["modality"]]),
        "00080070": _attr("LO", [r["manufacturer"]]),
        "0008103E": _attr("LO", [r["series_description"]]),
        "00081090": _attr("LO", [r["manufacturer_model_name"]]),
        "00081190": _attr("UR", [urls.series(r["study_instance_uid"], r["series_instance_uid"])]),
        "00180015": _attr("CS", [r["body_part_examined"]]),
        "00181020": _attr("LO", [r["software_versions"]]),
        "0020000E": _attr("UI", [r["series_instance_uid"]]),
        "00200011": _attr("IS", [_is(r["series_number"])]),
        "00201209": _attr("IS", [instances]),
        "00400244": held.get("00400244") or _attr("DA"),
        "00400245": held.get("00400245") or _attr("TM"),
        "00400275": held.get("00400275") or {"vr": "SQ"},
    }


def _sorted(attrs: dict) -> dict:
    return dict(sorted(attrs.items()))


def _page(qs, query: Query):
    """Rows of the page and whether more follow (one row read past the limit)."""
    if query.limit is None:
        rows = list(qs[query.offset:])
        return rows, False
    rows = list(qs[query.offset:query.offset + query.limit + 1])
    return rows[:query.limit], len(rows) > query.limit


MORE = "There are additional results that can be requested"


# ------------------------------------------------------------------ searches

def search_studies(scope, query: Query, urls) -> tuple[list, list]:
    qs = VersionSeries.objects.filter(version_id__in=scope.version_ids)
    qs = _modalities_filter(_apply(qs, query.study), scope, query.study)
    uids_qs = qs.values("study_instance_uid").annotate(n=Count("id")).order_by("study_instance_uid")
    page, more = _page(uids_qs, query)
    facts = _study_facts(scope, [p["study_instance_uid"] for p in page])
    out = [_sorted(study_json(facts[p["study_instance_uid"]], urls)) for p in page if p["study_instance_uid"] in facts]
    return out, query.warnings + ([MORE] if more else [])


def search_series(scope, query: Query, urls, study_uid: str | None = None) -> tuple[list, list]:
    qs = VersionSeries.objects.filter(version_id__in=scope.version_ids)
    if study_uid is not None:
        qs = qs.filter(study_instance_uid=study_uid)
    qs = _modalities_filter(_apply(qs, query.study), scope, query.study)
    qs = _apply(qs, query.series).order_by("id").values(*SERIES_VALUES)
    page, more = _page(qs, query)
    counts = _series_facts((r["version_id"], r["series_id"]) for r in page)
    studies = _study_facts(scope, {r["study_instance_uid"] for r in page}) if study_uid is None else {}
    out = []
    for r in page:
        attrs = series_json(r, counts.get((r["version_id"], r["series_id"]), (0, {})), urls)
        if study_uid is None and r["study_instance_uid"] in studies:
            attrs = {**study_json(studies[r["study_instance_uid"]], urls), **attrs}
        out.append(_sorted(attrs))
    return out, query.warnings + ([MORE] if more else [])


def search_instances(scope, query: Query, urls, study_uid: str | None = None, series_uid: str | None = None):
    from .headers import headers_for

    vs = VersionSeries.objects.filter(version_id__in=scope.version_ids)
    if study_uid is not None:
        vs = vs.filter(study_instance_uid=study_uid)
    if series_uid is not None:
        vs = vs.filter(series_instance_uid=series_uid)
    vs = _modalities_filter(_apply(_apply(vs, query.study), query.series), scope, query.study)
    series_rows = {(r["version_id"], r["series_id"]): r for r in vs.values(*SERIES_VALUES)}
    if not series_rows:
        return [], query.warnings
    cond = Q()
    for version_id, series_id in series_rows:
        cond |= Q(version_id=version_id, series_id=series_id)
    entries = _apply(VersionEntry.objects.filter(cond), query.instance).order_by(
        "series_id", F("instance_number").asc(nulls_first=True), "sop_instance_uid"
    ).values("version_id", "series_id", "sop_instance_uid", "sop_class_uid", "instance_number", "stored_file_id",
             "stored_file__storage_name")
    page, more = _page(entries, query)
    images = {}
    if page:
        for sid, sop, rows, cols, frames in Image.objects.filter(
            series_id__in={e["series_id"] for e in page}, sop_instance_uid__in=[e["sop_instance_uid"] for e in page]
        ).values_list("series_id", "sop_instance_uid", "rows", "columns", "number_of_frames"):
            images[(sid, sop)] = (rows, cols, frames)
    headers = headers_for([(e["stored_file_id"], e["stored_file__storage_name"]) for e in page])
    counts = _series_facts(series_rows) if (study_uid is None or series_uid is None) else {}
    studies = _study_facts(scope, {r["study_instance_uid"] for r in series_rows.values()}) if study_uid is None else {}
    out = []
    for e in page:
        s = series_rows[(e["version_id"], e["series_id"])]
        header = headers.get(e["stored_file_id"])
        rows, cols, frames = images.get((e["series_id"], e["sop_instance_uid"]), (None, None, None))
        if header is not None:
            rows, cols = header.rows or rows, header.columns or cols
            frames = header.number_of_frames or frames
        attrs = {
            "00080016": _attr("UI", [e["sop_class_uid"]]),
            "00080018": _attr("UI", [e["sop_instance_uid"]]),
            "00080056": _attr("CS", ["ONLINE"]),
            "00081190": _attr("UR", [urls.instance(s["study_instance_uid"], s["series_instance_uid"], e["sop_instance_uid"])]),
            "00200013": _attr("IS", [e["instance_number"]]),
            "00280008": _attr("IS", [frames]),
            "00280010": _attr("US", [rows]),
            "00280011": _attr("US", [cols]),
            "00280100": _attr("US", [header.bits_allocated if header else None]),
        }
        if series_uid is None:
            attrs = {**series_json(s, counts.get((e["version_id"], e["series_id"]), (0, {})), urls), **attrs}
        if study_uid is None and s["study_instance_uid"] in studies:
            attrs = {**study_json(studies[s["study_instance_uid"]], urls), **attrs}
        if header is not None and (query.include_all or query.include - attrs.keys()):
            full = urls.header_dict(header, s["study_instance_uid"], s["series_instance_uid"], e["sop_instance_uid"])
            wanted = full.keys() if query.include_all else query.include
            for tag in wanted:
                if tag in full and tag not in attrs:
                    attrs[tag] = full[tag]
        out.append(_sorted(attrs))
    return out, query.warnings + ([MORE] if more else [])


def vr_of(tag_hex: str) -> str:
    try:
        return dictionary_VR(int(tag_hex, 16))
    except KeyError:
        return "UN"
