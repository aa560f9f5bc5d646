"""The checks. Each takes a Context (the collection's images and their facts) and returns
FindingData; `curation.checks.services.run_checks` turns them into Finding rows.

What each check does follows Posda (TCIA's curation tools): duplicate SOPs split by whether
the pixels conflict, duplicate pixel digests across patients, series/study consistency,
RT/SEG linkage, and dciodvfy per series, plus geometry and completeness.
"""
import hashlib
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings

from collections_app.models import Image


@dataclass
class FindingData:
    check: str
    severity: str
    scope: str
    message: str
    key: str
    subject: object = None
    study: object = None
    series: object = None
    images: list = field(default_factory=list)
    uids: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    fix: dict | None = None
    fix_label: str = ""
    template: str = ""  # the message with its values taken out; findings are grouped by it

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.check}|{self.key}".encode()).hexdigest()


_TAG = re.compile(r"\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)|\bType [123]C?\b")
_WORD = re.compile(r"[A-Za-z0-9_^-]+")
_TEMPLATE_RULES = (
    (re.compile(r"= <[^<>]*>"), "= <…>"),                              # dciodvfy's quoted values
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),                       # repr'd tag values
    (re.compile(r"\b[0-9a-f]{32,64}\b"), "‹hash›"),
    (re.compile(r"\b\d+(?:\.\d+){2,}\b"), "‹UID›"),
    (re.compile(r"-?\b\d+(?:\.\d+)?\b"), "N"),
    (re.compile(r"‹UID›(?:[,;]? ‹UID›)+"), "‹UID›…"),
    (re.compile(r"N(?:(?:, |→|-)N)+(?: …)?"), "N…"),
    (re.compile(r"'…' ×N(?:, '…' ×N)*"), "'…' ×N…"),
)


def message_template(message: str, names=()) -> str:
    """The message with UIDs, numbers, hashes, quoted tag values and the given names (patient
    IDs) taken out, so findings that say the same thing about different objects group together.
    Tags "(gggg,eeee)" and attribute keywords stay: they are what the finding is about."""
    text = re.sub("[\ue000-\uf8ff]", "", message)
    names = names if isinstance(names, (set, frozenset)) else {n for n in names if n}
    if names:  # one look-up per word, whatever the number of subjects
        text = _WORD.sub(lambda m: "‹subject›" if m[0] in names else m[0], text)
    tags = []

    def keep(m):
        tags.append(m[0])
        return chr(0xE000 + len(tags) - 1)  # a private-use character: no rule below touches it

    text = _TAG.sub(keep, text)
    for pattern, repl in _TEMPLATE_RULES:
        text = pattern.sub(repl, text)
    text = re.sub("[\ue000-\uf8ff]", lambda m: tags[ord(m[0]) - 0xE000], text)
    return text[:300]


class Context:
    def __init__(self, collection, facts=None, progress=None):
        from .facts import ensure_facts

        self.collection = collection
        self.submission = getattr(collection, "submission", None)
        self.images = list(
            Image.objects.filter(series__collection=collection)
            .select_related("series__study", "series__subject", "stored_file")
            .order_by("pk")
        )
        self.facts = facts if facts is not None else ensure_facts(self.images, progress=progress)
        self.by_series = defaultdict(list)
        self.by_study = defaultdict(list)
        self.by_subject = defaultdict(list)
        for image in self.images:
            self.by_series[image.series_id].append(image)
            self.by_study[image.series.study_id].append(image)
            self.by_subject[image.series.subject_id].append(image)

    def h(self, image, keyword, default=""):
        facts = self.facts.get(image.stored_file_id)
        if facts is None:
            return default
        value = facts.header.get(keyword)
        if value is None:
            return default
        return value

    def present(self, image, keyword) -> bool:
        """Whether the file has the attribute at all (empty counts as present)."""
        facts = self.facts.get(image.stored_file_id)
        return facts is not None and keyword in facts.header

    def text(self, image, keyword) -> str:
        value = self.h(image, keyword)
        if isinstance(value, list):
            return "\\".join(value)
        return str(value).strip()

    def refs(self, image):
        facts = self.facts.get(image.stored_file_id)
        return facts.refs if facts else []

    def pixel_hash(self, image):
        facts = self.facts.get(image.stored_file_id)
        return facts.pixel_hash if facts else ""


def _majority(counter: Counter):
    """The most common value when it is a strict majority of one over the rest, else None."""
    common = counter.most_common(2)
    if not common:
        return None
    if len(common) > 1 and common[0][1] == common[1][1]:
        return None
    return common[0][0]


def _fmt_counts(counter: Counter) -> str:
    return ", ".join(f"{v or '(empty)'!r} ×{n}" for v, n in counter.most_common(6))


# ── duplicates ──────────────────────────────────────────────────────────────────────────────

def check_duplicate_sop(ctx: Context) -> list[FindingData]:
    """A SOP Instance UID received again with other content (intake keeps one image per UID and
    the other file beside it, curation.ConflictingFile). Same content in another encoding is
    not a duplicate: intake recorded it as unchanged."""
    from curation.models import ConflictingFile

    by_image = {image.pk: image for image in ctx.images}
    out = []
    conflicts = (ConflictingFile.objects.filter(collection=ctx.collection).select_related("stored_file")
                 .order_by("image_id", "pk"))
    for conflict in conflicts:
        image = by_image.get(conflict.image_id)
        if image is None or image.stored_file_id == conflict.stored_file_id:
            continue  # the image now holds these very bytes (a curator chose them)
        uid = image.sop_instance_uid
        headers = [d for d in conflict.differences if d != "PixelData"]
        also = f" (headers also differ in {', '.join(headers[:8])})" if headers else ""
        common = dict(
            subject=image.series.subject, study=image.series.study, series=image.series, images=[image],
            uids={"SOPInstanceUID": uid, "files": [image.stored_file.sha256, conflict.stored_file.sha256]},
            fix={"op": "use_received", "conflict": conflict.pk, "images": [image.pk]},
            fix_label="Use the file received later instead (the indexed one stays in the history)",
        )
        if conflict.pixels_differ:
            out.append(FindingData(
                "duplicate_sop", "error", "image",
                f"SOP Instance UID {uid} was received again with conflicting pixel data{also}",
                key=f"conflict:{uid}:{conflict.stored_file.sha256}",
                details={"kind": "conflicting", "differing": conflict.differences}, **common,
            ))
        else:
            out.append(FindingData(
                "duplicate_sop", "warning", "image",
                f"SOP Instance UID {uid} was received again with identical pixel data; headers differ in "
                f"{', '.join(headers[:8])}. Keep one (waive to keep the indexed file).",
                key=f"headers:{uid}:{conflict.stored_file.sha256}",
                details={"kind": "headers", "differing": conflict.differences}, **common,
            ))
    return out


def check_duplicate_pixels(ctx: Context) -> list[FindingData]:
    groups = defaultdict(list)
    for image in ctx.images:
        digest = ctx.pixel_hash(image)
        if digest:
            groups[digest].append(image)
    out = []
    for digest, images in groups.items():
        if len({i.sop_instance_uid for i in images}) < 2:
            continue  # one instance: nothing duplicated
        subjects = sorted({i.series.subject.patient_id for i in images})
        series = {i.series_id for i in images}
        locs = [{"subject": i.series.subject.patient_id, "series": i.series.series_instance_uid, "sop": i.sop_instance_uid}
                for i in images]
        if len(subjects) > 1:
            out.append(FindingData(
                "duplicate_pixels", "error", "image",
                f"The same pixel data appears under {len(subjects)} subjects ({', '.join(subjects[:6])}) in {len(images)} images",
                key=f"subjects:{digest}", subject=images[0].series.subject, series=images[0].series, images=images,
                uids={"pixel_sha256": digest, "locations": locs[:50]},
            ))
        else:
            where = "different series" if len(series) > 1 else "one series"
            out.append(FindingData(
                "duplicate_pixels", "warning", "image",
                f"The same pixel data appears in {len(images)} images of subject {subjects[0]} ({where})",
                key=f"subject:{digest}", subject=images[0].series.subject, series=images[0].series, images=images,
                uids={"pixel_sha256": digest, "locations": locs[:50]},
            ))
    return out


# ── consistency ─────────────────────────────────────────────────────────────────────────────

SERIES_KEYS = {
    "Modality": "error", "StudyInstanceUID": "error", "PatientID": "error", "FrameOfReferenceUID": "error",
    "SeriesDescription": "warning", "SeriesNumber": "warning", "BodyPartExamined": "warning", "Manufacturer": "warning",
    "ManufacturerModelName": "warning", "Laterality": "warning", "ProtocolName": "warning", "SeriesDate": "warning",
    "PatientPosition": "warning",
}
STUDY_KEYS = {
    "PatientID": "error", "StudyDate": "warning", "StudyTime": "warning", "StudyDescription": "warning",
    "AccessionNumber": "warning", "StudyID": "warning", "ReferringPhysicianName": "warning", "PatientAge": "warning",
}
SUBJECT_KEYS = {"PatientSex": "warning", "PatientBirthDate": "warning"}
_RT = {"RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SEG", "REG", "SR", "KO", "PR", "RTIMAGE"}


def _consistency(ctx, check, scope, groups, keys, obj_of):
    """Values that differ between the files of a group. A file without the attribute says
    nothing about it (PatientAge present on CT and absent on MR is no contradiction): only the
    files that have it are compared."""
    out = []
    for group_id, images in groups.items():
        if len(images) < 2:
            continue
        for keyword, severity in keys.items():
            if keyword == "FrameOfReferenceUID" and any(ctx.text(i, "Modality") in _RT for i in images):
                continue
            having = [i for i in images if ctx.present(i, keyword)]
            counter = Counter(ctx.text(i, keyword) for i in having)
            if len(counter) < 2:
                continue
            majority = _majority(counter)
            subject, study, series = obj_of(images[0])
            data = FindingData(
                check, severity, scope,
                f"{keyword} differs within the {scope}: {_fmt_counts(counter)}",
                key=f"{group_id}:{keyword}", subject=subject, study=study, series=series,
                images=having, uids={"attribute": keyword, "values": dict(counter.most_common(20))},
                template=f"{keyword} differs within the {scope}",
            )
            if majority is not None and keyword not in ("StudyInstanceUID", "PatientID"):
                minority = [i.pk for i in having if ctx.text(i, keyword) != majority]
                data.fix = {"op": "set", "path": keyword, "value": majority, "images": minority}
                data.fix_label = (f"Set {keyword} to the majority value {majority!r} in {len(minority)} "
                                  f"file{'s' if len(minority) != 1 else ''}")
            out.append(data)
    return out


def check_consistency_series(ctx):
    return _consistency(ctx, "consistency_series", "series", ctx.by_series, SERIES_KEYS,
                        lambda i: (i.series.subject, i.series.study, i.series))


def check_consistency_study(ctx):
    return _consistency(ctx, "consistency_study", "study", ctx.by_study, STUDY_KEYS,
                        lambda i: (i.series.subject, i.series.study, None))


def _age_years(text: str):
    m = re.fullmatch(r"(\d{3})([DWMY])", text.strip())
    if not m:
        return None
    n = int(m[1])
    return n / {"D": 365.25, "W": 52.18, "M": 12.0, "Y": 1.0}[m[2]]


def _date_years(text: str):
    text = text.strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    y, mo, d = int(text[:4]), int(text[4:6]), int(text[6:8])
    return y + (mo - 1) / 12 + (d - 1) / 365.25


def check_consistency_subject(ctx):
    out = _consistency(ctx, "consistency_subject", "subject", ctx.by_subject, SUBJECT_KEYS,
                       lambda i: (i.series.subject, None, None))
    for subject_id, images in ctx.by_subject.items():
        subject = images[0].series.subject
        points = {}
        for image in images:
            age = _age_years(ctx.text(image, "PatientAge"))
            when = _date_years(ctx.text(image, "StudyDate"))
            birth = _date_years(ctx.text(image, "PatientBirthDate"))
            if age is not None and when is not None and birth is not None and abs((when - birth) - age) > 1.5:
                out.append(FindingData(
                    "consistency_subject", "warning", "subject",
                    f"PatientAge {ctx.text(image, 'PatientAge')} contradicts birth date and study date "
                    f"({ctx.text(image, 'PatientBirthDate')} → {ctx.text(image, 'StudyDate')})",
                    key=f"{subject_id}:agebirth:{image.series.study_id}", subject=subject, study=image.series.study,
                    images=[image],
                ))
            if age is not None and when is not None:
                points.setdefault(image.series.study_id, (when, age, image))
        ordered = sorted(points.values(), key=lambda p: p[0])
        for (w1, a1, i1), (w2, a2, i2) in zip(ordered, ordered[1:]):
            # Ages are whole years (rounded down), so allow a little over one year of slack.
            if abs((a2 - a1) - (w2 - w1)) > 1.5:
                out.append(FindingData(
                    "consistency_subject", "warning", "subject",
                    f"Ages contradict study dates: {ctx.text(i1, 'PatientAge')} on {ctx.text(i1, 'StudyDate')} but "
                    f"{ctx.text(i2, 'PatientAge')} on {ctx.text(i2, 'StudyDate')}",
                    key=f"{subject_id}:ages:{i1.series.study_id}:{i2.series.study_id}", subject=subject,
                    images=[i1, i2],
                ))
    return out


# ── geometry ────────────────────────────────────────────────────────────────────────────────

def _floats(value):
    if isinstance(value, str):
        value = value.split("\\")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None


def check_geometry(ctx):
    out = []
    for series_id, images in ctx.by_series.items():
        series = images[0].series
        if len(images) < 3 or ctx.text(images[0], "Modality") in _RT:
            continue
        numbers = [n for n in (_int(ctx.text(i, "InstanceNumber")) for i in images) if n is not None]
        if len(numbers) == len(images) and len(set(i.sop_instance_uid for i in images)) == len(images):
            dupes = sorted(n for n, c in Counter(numbers).items() if c > 1)
            missing = sorted(set(range(min(numbers), max(numbers) + 1)) - set(numbers))
            if dupes:
                out.append(FindingData("geometry", "warning", "series",
                                       f"InstanceNumber repeated in the series: {_short(dupes)}",
                                       key=f"{series_id}:instdup", subject=series.subject, study=series.study, series=series,
                                       uids={"repeated": dupes[:50]}))
            if missing:
                out.append(FindingData("geometry", "warning", "series",
                                       f"Gap in InstanceNumber: {len(missing)} missing ({_short(missing)}) between "
                                       f"{min(numbers)} and {max(numbers)}",
                                       key=f"{series_id}:instgap", subject=series.subject, study=series.study, series=series,
                                       uids={"missing": missing[:50]}))
        orientations = {tuple(round(v, 4) for v in (_floats(ctx.h(i, "ImageOrientationPatient")) or [])) for i in images}
        if len(orientations) != 1:
            continue
        orient = next(iter(orientations))
        if len(orient) != 6:
            continue
        normal = (orient[1] * orient[5] - orient[2] * orient[4], orient[2] * orient[3] - orient[0] * orient[5],
                  orient[0] * orient[4] - orient[1] * orient[3])
        positions = []
        for image in images:
            ipp = _floats(ctx.h(image, "ImagePositionPatient"))
            if not ipp or len(ipp) != 3:
                positions = []
                break
            positions.append((sum(a * b for a, b in zip(ipp, normal)), image))
        if len(positions) < 3:
            continue
        positions.sort(key=lambda p: p[0])
        steps = [round(b[0] - a[0], 3) for a, b in zip(positions, positions[1:])]
        nonzero = [s for s in steps if abs(s) > 1e-3]
        if len(nonzero) < len(steps):
            out.append(FindingData("geometry", "warning", "series",
                                   f"{len(steps) - len(nonzero)} images share a slice position",
                                   key=f"{series_id}:posdup", subject=series.subject, study=series.study, series=series))
        if not nonzero:
            continue
        spacing = Counter(round(s, 2) for s in nonzero)
        usual = spacing.most_common(1)[0][0]
        tolerance = max(0.01 * usual, 0.05)
        gaps = [(positions[k][0], positions[k + 1][0], s) for k, s in enumerate(steps) if s > usual + tolerance and s >= 1.5 * usual]
        uneven = [s for s in nonzero if abs(s - usual) > tolerance and not s >= 1.5 * usual]
        if gaps:
            missing = sum(max(1, round(s / usual) - 1) for _, _, s in gaps)
            out.append(FindingData("geometry", "warning", "series",
                                   f"Gap in ImagePositionPatient: about {missing} slice(s) missing at "
                                   + "; ".join(f"{a:.2f}→{b:.2f} mm" for a, b, _ in gaps[:5])
                                   + f" (usual spacing {usual} mm)",
                                   key=f"{series_id}:posgap", subject=series.subject, study=series.study, series=series,
                                   uids={"usual_spacing": usual, "gaps": [[a, b] for a, b, _ in gaps[:50]]}))
        if uneven:
            out.append(FindingData("geometry", "warning", "series",
                                   f"Uneven slice spacing: {_fmt_counts(spacing)} mm (majority {usual} mm)",
                                   key=f"{series_id}:spacing", subject=series.subject, study=series.study, series=series,
                                   uids={"spacings": {str(k): v for k, v in spacing.items()}}))
    return out


def _int(text):
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _short(values):
    return ", ".join(str(v) for v in values[:10]) + (" …" if len(values) > 10 else "")


# ── RT and SEG linkage ──────────────────────────────────────────────────────────────────────

RTSTRUCT_FOR = re.compile(r"^\(3006,0010\)\[\d+\]\(0020,0052\)$|^\(3006,0020\)\[\d+\]\(3006,0024\)$")
RTSTRUCT_SERIES = re.compile(r"^\(3006,0010\)\[\d+\]\(3006,0012\)\[\d+\]\(3006,0014\)\[\d+\]\(0020,000E\)$")
RTSTRUCT_SOP = re.compile(r"^\(3006,00(10|39)\).*\(3006,0016\)\[\d+\]\(0008,1155\)$")
PLAN_STRUCT = re.compile(r"^\(300C,0060\)\[\d+\]\(0008,1155\)$")
DOSE_PLAN = re.compile(r"^\(300C,0002\)\[\d+\]\(0008,1155\)$")
SEG_SERIES = re.compile(r"^\(0008,1115\)\[\d+\]\(0020,000E\)$")
SEG_SOP = re.compile(r"^(\(0008,1115\)|\(5200,9230\)|\(0008,2112\)).*\(0008,1155\)$")


def check_linkage(ctx):
    out = []
    sops = defaultdict(list)
    series_by_uid = {}
    image_series_by_for = defaultdict(set)
    for image in ctx.images:
        sops[image.sop_instance_uid].append(image)
        series_by_uid[image.series.series_instance_uid] = image.series
        modality = ctx.text(image, "Modality")
        for_uid = ctx.text(image, "FrameOfReferenceUID")
        if for_uid and modality not in _RT:
            image_series_by_for[for_uid].add(image.series)

    def modality_of(image):
        return ctx.text(image, "Modality")

    def same_subject(image, series_list):
        return [s for s in series_list if s.subject_id == image.series.subject_id]

    def image_series_of_subject(image, study_only=False):
        found = {}
        for other in ctx.by_subject[image.series.subject_id]:
            if modality_of(other) in _RT:
                continue
            if study_only and other.series.study_id != image.series.study_id:
                continue
            found[other.series_id] = other.series
        return list(found.values())

    def finding(image, message, key, fix=None, fix_label="", severity="error", uids=None):
        out.append(FindingData("linkage", severity, "image", message, key=f"{image.sop_instance_uid}:{key}",
                               subject=image.series.subject, study=image.series.study, series=image.series,
                               images=[image], uids=uids or {}, fix=fix, fix_label=fix_label))

    def object_ref(image, pattern, target_modality, label):
        refs = [uid for path, uid in ctx.refs(image) if pattern.match(path)]
        own = [i for i in ctx.by_subject[image.series.subject_id] if modality_of(i) == target_modality]
        candidates = {i.sop_instance_uid: i for i in own}
        single = next(iter(candidates)) if len(candidates) == 1 else None
        if not refs:
            finding(image, f"{modality_of(image)} does not reference a {label}"
                    + (f"; the subject has one {target_modality} ({single})" if single else ""),
                    f"no-{target_modality}", severity="error" if target_modality == "RTPLAN" else "warning",
                    uids={"candidate": single} if single else {})
            return
        for uid in refs:
            targets = sops.get(uid, [])
            fix = ({"op": "replace", "from": uid, "to": single, "images": [image.pk]} if single and single != uid else None)
            fix_label = f"Point the reference at {target_modality} {single} of the same subject" if fix else ""
            if not targets:
                finding(image, f"{modality_of(image)} references a {label} which is not known ({uid})",
                        f"missing:{uid}", fix=fix, fix_label=fix_label, uids={"referenced": uid})
            elif not any(t.series.subject_id == image.series.subject_id for t in targets):
                finding(image, f"{modality_of(image)} references a {label} of another subject "
                        f"({targets[0].series.subject.patient_id}): {uid}",
                        f"foreign:{uid}", fix=fix, fix_label=fix_label, uids={"referenced": uid})
            elif not any(modality_of(t) == target_modality for t in targets):
                finding(image, f"{modality_of(image)} references {uid}, which is a {modality_of(targets[0])}, not a {target_modality}",
                        f"class:{uid}", fix=fix, fix_label=fix_label, uids={"referenced": uid})

    def series_refs(image, series_pattern, for_patterns, sop_pattern, what):
        refs = ctx.refs(image)
        ref_series = sorted({uid for path, uid in refs if series_pattern.match(path)})
        ref_fors = sorted({uid for path, uid in refs if any(p.match(path) for p in for_patterns)})
        ref_sops = {uid for path, uid in refs if sop_pattern.match(path)} - set(ref_series) - set(ref_fors)
        own_for = ctx.text(image, "FrameOfReferenceUID")
        # The one image series of this subject the object could mean: same frame of reference,
        # else the only image series in its study.
        for_candidates = set()
        for for_uid in ref_fors + ([own_for] if own_for else []):
            for_candidates |= set(same_subject(image, image_series_of_for(for_uid)))
        candidates = list(for_candidates) or image_series_of_subject(image, study_only=True)
        target = candidates[0] if len(candidates) == 1 else None
        if not ref_series and not ref_fors and not ref_sops:
            finding(image, f"{modality_of(image)} references no {what}", "noref",
                    uids={"candidate": target.series_instance_uid} if target else {})
            return
        bad = []
        for uid in ref_series:
            series = series_by_uid.get(uid)
            if series is None:
                bad.append(uid)
                finding(image, f"{modality_of(image)} references series {uid}, which is not in the submission",
                        f"series-missing:{uid}", uids={"referenced_series": uid})
            elif series.subject_id != image.series.subject_id:
                bad.append(uid)
                finding(image, f"{modality_of(image)} references a series of another subject "
                        f"({series.subject.patient_id}): {uid}", f"series-foreign:{uid}", uids={"referenced_series": uid})
        for uid in ref_fors:
            holders = image_series_of_for(uid)
            if not holders:
                bad.append(uid)
                finding(image, f"{modality_of(image)} references frame of reference {uid}, which no image series in the "
                        "submission has", f"for-missing:{uid}", uids={"referenced_for": uid})
            elif not same_subject(image, holders):
                bad.append(uid)
                finding(image, f"{modality_of(image)} references the frame of reference of another subject's series: {uid}",
                        f"for-foreign:{uid}", uids={"referenced_for": uid})
        missing_sops = sorted(u for u in ref_sops if u not in sops)
        foreign_sops = sorted(u for u in ref_sops if u in sops and all(
            t.series.subject_id != image.series.subject_id for t in sops[u]))
        if missing_sops and not bad:
            finding(image, f"{modality_of(image)} references {len(missing_sops)} image(s) not in the submission",
                    "sops-missing", severity="warning", uids={"missing": missing_sops[:50]})
        if foreign_sops and not bad:
            finding(image, f"{modality_of(image)} references {len(foreign_sops)} image(s) of another subject",
                    "sops-foreign", uids={"foreign": foreign_sops[:50]})
        if bad and target is not None:
            pairs = []
            for uid in bad:
                pairs.append([uid, target.frame_of_reference_uid if uid in ref_fors else target.series_instance_uid])
            pairs = [p for p in pairs if p[1] and p[0] != p[1]]
            if pairs:
                fix = {"op": "replace", "pairs": pairs, "images": [image.pk]}
                for data in out:
                    if data.images == [image] and data.check == "linkage" and data.fix is None and \
                            data.uids.get("referenced_series", data.uids.get("referenced_for")) in bad:
                        data.fix = fix
                        data.fix_label = (f"Repoint to series {target.series_instance_uid} of the same subject "
                                          "(image-level references then need review)")

    def image_series_of_for(for_uid):
        return list(image_series_by_for.get(for_uid, ()))

    for image in ctx.images:
        modality = modality_of(image)
        if modality == "RTSTRUCT":
            series_refs(image, RTSTRUCT_SERIES, [RTSTRUCT_FOR], RTSTRUCT_SOP, "image series")
        elif modality == "RTPLAN":
            object_ref(image, PLAN_STRUCT, "RTSTRUCT", "structure set")
        elif modality == "RTDOSE":
            object_ref(image, DOSE_PLAN, "RTPLAN", "plan")
        elif modality == "SEG":
            series_refs(image, SEG_SERIES, [], SEG_SOP, "source images")
    return out


# ── conformance ─────────────────────────────────────────────────────────────────────────────

DCIODVFY_LINE = re.compile(r"^(Error|Warning|Abort)\s*-\s*(.*)$")
DCIODVFY_ATTR = re.compile(r"<?/?([A-Za-z0-9]+)\(([0-9A-Fa-f]{4},[0-9A-Fa-f]{4})\)")
DCIODVFY_PATH = re.compile(r"</([^>]*)>")
DCIODVFY_MODULE = re.compile(r"Module=<([^>]+)>")
# (attribute, message part): dciodvfy says these of every file our de-identification writes, by
# design. An entry hides its message on that attribute only; the same words about another
# attribute are a real finding.
DEFAULT_DCIODVFY_IGNORE = (
    ("StudyID", "Missing attribute or value that would be needed to build DICOMDIR"),  # StudyID blanked
    ("PatientName", "Retired Person Name form"),  # the subject ID written as the name
    ("OperatorsName", "Retired Person Name form"),  # replaced by a placeholder
)


def parse_dciodvfy(text: str) -> list[dict]:
    """[{level, attribute, tag, module, message, nested}] from dciodvfy's output."""
    rows = []
    for line in text.splitlines():
        m = DCIODVFY_LINE.match(line.strip())
        if not m:
            continue
        body = m[2]
        attr = DCIODVFY_ATTR.search(body)
        module = DCIODVFY_MODULE.search(body)
        path = DCIODVFY_PATH.search(body)
        rows.append({
            "level": "warning" if m[1] == "Warning" else "error",
            "attribute": attr[1] if attr else "",
            "tag": f"({attr[2].upper()})" if attr else "",
            "module": module[1] if module else "",
            "message": body.strip(),
            "nested": bool(path and len(DCIODVFY_ATTR.findall(path[1])) > 1),
        })
    return rows


def ignored(row, ignore) -> bool:
    return any(row["attribute"] == attribute and part in row["message"] for attribute, part in ignore)


def _normalize(message: str) -> str:
    return re.sub(r"= <[^>]*>", "= <…>", re.sub(r"\[\d+\]", "", message))


def _bare(message: str) -> str:
    """dciodvfy's message without the element path and module it starts and ends with (the
    template names them once)."""
    message = re.sub(r"^</[^>]*>\s*-\s*", "", message)
    return re.sub(r"\s*-?\s*Module=<[^>]*>\s*$", "", message).strip()


def dciodvfy_exe() -> str:
    return getattr(settings, "TCIA_DCIODVFY", "dciodvfy")


def dciodvfy_tool() -> str:
    """Which dciodvfy answers (path, size, mtime): cached results are reused only from the same one."""
    import os
    import shutil

    path = shutil.which(dciodvfy_exe())
    if not path:
        return ""
    st = os.stat(path)
    return hashlib.sha256(f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]


def run_dciodvfy(stored_file) -> str:
    """dciodvfy's whole output for one stored file (copied to a temporary file when the
    archive storage is not a local folder). No database access: safe in a thread."""
    import shutil
    import tempfile

    exe = dciodvfy_exe()
    path = stored_file.path()
    tmp = None
    if path is None:
        tmp = tempfile.NamedTemporaryFile(suffix=".dcm")  # dciodvfy reads a path: copy in chunks
        with stored_file.open() as fh:
            shutil.copyfileobj(fh, tmp, 1024 * 1024)
        tmp.flush()
        path = tmp.name
    try:
        proc = subprocess.run([exe, "-new", str(path)], capture_output=True, text=True, errors="replace", timeout=120)
    finally:
        if tmp is not None:
            tmp.close()
    text = proc.stdout + "\n" + proc.stderr
    parsed = any(DCIODVFY_LINE.match(line.strip()) for line in text.splitlines())
    if proc.returncode < 0 or (proc.returncode != 0 and not parsed):
        # dciodvfy crashed (e.g. an assertion on 32-bit OW pixel data): say so rather than pass the file.
        last = [line for line in text.splitlines() if line.strip()][-1:] or [f"exit status {proc.returncode}"]
        text += f"\nWarning - dciodvfy could not check this file: {last[0][:300]}\n"
    return text


def dciodvfy_rows(stored_files, progress=None) -> dict:
    """sha256 → parsed dciodvfy rows for each stored file: from the cache (by content hash and
    tool), else by running dciodvfy, several files at once (TCIA_CHECKS_DCIODVFY_WORKERS
    processes; the threads only wait on them), then cached."""
    import os
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from .models import DciodvfyResult

    tool = dciodvfy_tool()
    by_hash = {f.sha256: f for f in stored_files}
    out = {}
    hashes = list(by_hash)
    for k in range(0, len(hashes), 500):
        for sha, rows in DciodvfyResult.objects.filter(tool=tool, sha256__in=hashes[k:k + 500]).values_list("sha256", "rows"):
            out[sha] = rows
            if progress:
                progress()
    todo = [f for sha, f in by_hash.items() if sha not in out]
    workers = int(getattr(settings, "TCIA_CHECKS_DCIODVFY_WORKERS", 0) or os.cpu_count() or 2)
    fresh = []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as pool:
        futures = {pool.submit(run_dciodvfy, f): f for f in todo}
        for future in as_completed(futures):
            stored = futures[future]
            rows = parse_dciodvfy(future.result())
            out[stored.sha256] = rows
            fresh.append(DciodvfyResult(sha256=stored.sha256, tool=tool, rows=rows))
            if progress:
                progress()
    for k in range(0, len(fresh), 500):
        DciodvfyResult.objects.bulk_create(fresh[k:k + 500], ignore_conflicts=True)
    return out


def default_sample():
    return getattr(settings, "TCIA_CHECKS_DCIODVFY_SAMPLE", "all")


def _sample(images, sample):
    images = sorted(images, key=lambda i: (i.instance_number if i.instance_number is not None else 0, i.pk))
    if sample in ("all", "all_per_series", None, 0, ""):
        return images
    if sample in ("one", "one_per_series"):
        return images[:1]
    n = int(sample)
    if n >= len(images):
        return images
    step = len(images) / n
    return [images[int(k * step)] for k in range(n)]


_MISSING = re.compile(r"Missing attribute|Empty attribute|A value is required")
_TYPE2_MISSING = re.compile(r"Missing attribute for Type 2 Required")
_WRONG_VR = re.compile(r"Invalid Value Representation|Explicit value representation doesn't match")


def _read_header(image):
    from pydicom import dcmread

    with image.stored_file.open() as fh:
        return dcmread(fh, stop_before_pixels=True, force=True)


def _series_value(ctx, images, keyword, limit=7):
    """The value the files of `images` agree on for `keyword` (a strict majority of those that
    have a non-empty one; at most `limit` files are read when the facts do not hold it), or None."""
    from .facts import HEADER_KEYWORDS
    from .fixes import value_text

    values = Counter()
    known = keyword in HEADER_KEYWORDS
    looked = images if known else images[:limit]
    for image in looked:
        if known:
            text = ctx.text(image, keyword)
        else:
            try:
                ds = _read_header(image)
            except Exception:  # noqa: BLE001 - an unreadable file gives no value
                continue
            text = value_text(ds[keyword].value) if keyword in ds and not ds[keyword].is_empty else ""
        if text:
            values[text] += 1
    if sum(values.values()) * 2 <= len(looked):
        return None  # most files have none either: not a value the series agrees on
    return _majority(values)


def dciodvfy_fix(ctx, series_images, affected, row):
    """(spec, label) of the correction that clears a dciodvfy row on `affected` files, or (None, "")."""
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    keyword = row["attribute"]
    tag = tag_for_keyword(keyword) if keyword else None
    if tag is None or row["nested"]:
        return None, ""
    message = row["message"]
    pks = [i.pk for i in affected]
    n = len(affected)
    if message.startswith("Retired attribute") or " - Retired attribute" in message:
        return ({"op": "delete", "path": keyword, "images": pks},
                f"Remove the retired attribute {keyword} {row['tag']} from {n} file{'s' if n != 1 else ''}")
    if _WRONG_VR.search(message):
        return ({"op": "fix_vr", "path": keyword, "images": pks},
                f"Rewrite {keyword} with its dictionary VR {dictionary_VR(tag)} in {n} file{'s' if n != 1 else ''}")
    if _MISSING.search(message):
        chosen = {i.pk for i in affected}
        others = [i for i in series_images if i.pk not in chosen]
        value = _series_value(ctx, others, keyword) if others else None
        if value is not None:
            return ({"op": "set", "path": keyword, "value": value, "images": pks},
                    f"Set {keyword} to {value!r}, the value the other files of the series have, in {n} file{'s' if n != 1 else ''}")
        if keyword == "Modality":
            modalities = SOP_CLASS_MODALITY.get(ctx.text(affected[0], "SOPClassUID"), set())
            if len(modalities) == 1 and all(ctx.text(i, "SOPClassUID") == ctx.text(affected[0], "SOPClassUID")
                                            for i in affected):
                value = next(iter(modalities))
                return ({"op": "set", "path": keyword, "value": value, "images": pks},
                        f"Set Modality to {value!r}, the modality of the SOP Class, in {n} file{'s' if n != 1 else ''}")
        if _TYPE2_MISSING.search(message):
            return ({"op": "set", "path": keyword, "value": "", "images": pks},
                    f"Add {keyword} with no value (Type 2: present, may be empty) to {n} file{'s' if n != 1 else ''}")
    return None, ""


def check_dciodvfy(ctx, sample=None, progress=None):
    """dciodvfy on every file by default (`sample`: "one_per_series" or a number per series only
    when the curator asks), results cached by file content, one finding per series and message."""
    import shutil

    exe = dciodvfy_exe()
    if not shutil.which(exe):
        return [FindingData("dciodvfy", "warning", "collection", f"dciodvfy is not installed ({exe}); conformance not checked",
                            key="missing-tool")]
    sample = sample or default_sample()
    ignore = tuple(tuple(entry) for entry in getattr(settings, "TCIA_CHECKS_DCIODVFY_IGNORE", DEFAULT_DCIODVFY_IGNORE))
    chosen_by_series = {series_id: _sample(images, sample) for series_id, images in ctx.by_series.items()}
    rows_by_hash = dciodvfy_rows({i.stored_file for chosen in chosen_by_series.values() for i in chosen},
                                 progress=progress)
    out = []
    for series_id, images in ctx.by_series.items():
        series = images[0].series
        grouped = {}
        chosen = chosen_by_series[series_id]
        for image in chosen:
            for row in rows_by_hash.get(image.stored_file.sha256, []):
                if ignored(row, ignore):
                    continue
                key = (row["level"], row["tag"], _normalize(row["message"]))
                entry = grouped.setdefault(key, {"row": row, "images": []})
                if image not in entry["images"]:
                    entry["images"].append(image)
        for (level, tag, norm), entry in grouped.items():
            row = entry["row"]
            where = f" in module {row['module']}" if row["module"] else ""
            checked = "files" if len(chosen) == len(images) else "checked files"
            fix, fix_label = dciodvfy_fix(ctx, images, entry["images"], row)
            out.append(FindingData(
                "dciodvfy", "error" if level == "error" else "warning", "series",
                f"{row['attribute'] or 'File'}{where}: {row['message']} "
                f"({len(entry['images'])} of {len(chosen)} {checked})",
                key=f"{series_id}:{level}:{tag}:{norm}", subject=series.subject, study=series.study, series=series,
                images=entry["images"], details={"attribute": row["attribute"], "tag": row["tag"], "module": row["module"],
                                                 "message": row["message"], "checked": len(chosen),
                                                 "sample": str(sample)},
                fix=fix, fix_label=fix_label,
                template=message_template(f"{row['attribute'] or 'File'} {row['tag']}{where}: {_bare(norm)}".replace("  ", " ")),
            ))
    return out


UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
SOP_CLASS_MODALITY = {
    "1.2.840.10008.5.1.4.1.1.2": {"CT"}, "1.2.840.10008.5.1.4.1.1.4": {"MR"}, "1.2.840.10008.5.1.4.1.1.128": {"PT"},
    "1.2.840.10008.5.1.4.1.1.481.3": {"RTSTRUCT"}, "1.2.840.10008.5.1.4.1.1.481.5": {"RTPLAN"},
    "1.2.840.10008.5.1.4.1.1.481.2": {"RTDOSE"}, "1.2.840.10008.5.1.4.1.1.66.4": {"SEG"},
}
CROSS_SECTIONAL = {"CT", "MR", "PT"}


def check_rules(ctx):
    """Rules of our own, grouped per series so one cause is one finding."""
    out = []
    for series_id, images in ctx.by_series.items():
        series = images[0].series
        hits = defaultdict(list)
        for image in images:
            for kw in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
                value = ctx.text(image, kw)
                if value and (len(value) > 64 or not UID_RE.match(value)):
                    hits[("error", f"uid:{kw}", f"{kw} is not a valid UID")].append(image)
            if ctx.text(image, "PatientIdentityRemoved").upper() != "YES":
                hits[("error", "deid", "PatientIdentityRemoved is not YES: the file does not record its de-identification")].append(image)
            if ctx.text(image, "BurnedInAnnotation").upper() == "YES":
                hits[("warning", "burned", "BurnedInAnnotation is YES: pixels may hold text; check in the review queue")].append(image)
            modality = ctx.text(image, "Modality")
            expected = SOP_CLASS_MODALITY.get(ctx.text(image, "SOPClassUID"))
            if expected and modality not in expected:
                hits[("error", "class", f"Modality {modality!r} does not match the SOP Class ({'/'.join(expected)})")].append(image)
            if modality in CROSS_SECTIONAL and _int(ctx.text(image, "NumberOfFrames") or "1") in (None, 1):
                absent = [kw for kw in ("PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient")
                          if not ctx.h(image, kw)]
                if absent:
                    hits[("warning", "geom:" + ",".join(absent), f"missing {', '.join(absent)}")].append(image)
        for (severity, rule, message), hit in hits.items():
            out.append(FindingData("rules", severity, "series", f"{message} ({len(hit)} of {len(images)} files)",
                                   key=f"{series_id}:{rule}", subject=series.subject, study=series.study, series=series,
                                   images=hit, details={"rule": rule}))
    return out


def check_completeness(ctx):
    out = []
    submission = ctx.submission
    if submission is None:
        return out
    subjects = len(ctx.by_subject)
    series = len(ctx.by_series)
    for label, promised, received in (("subjects", submission.promised_subjects, subjects),
                                      ("series", submission.promised_series, series)):
        if promised is None:
            continue
        if received < promised:
            out.append(FindingData("completeness", "warning", "collection",
                                   f"{received} of {promised} promised {label} received ({promised - received} missing)",
                                   key=f"{label}:short", uids={"promised": promised, "received": received}))
        elif received > promised:
            out.append(FindingData("completeness", "info", "collection",
                                   f"{received} {label} received, more than the {promised} promised",
                                   key=f"{label}:over", uids={"promised": promised, "received": received}))
    return out


CHECKS = {
    "duplicate_sop": ("Duplicate SOP Instance UIDs", check_duplicate_sop),
    "duplicate_pixels": ("Duplicate pixel data", check_duplicate_pixels),
    "consistency_series": ("Consistency within series", check_consistency_series),
    "consistency_study": ("Consistency within studies", check_consistency_study),
    "consistency_subject": ("Consistency within subjects", check_consistency_subject),
    "geometry": ("Series geometry", check_geometry),
    "linkage": ("RT and SEG linkage", check_linkage),
    "dciodvfy": ("Conformance (dciodvfy)", check_dciodvfy),
    "rules": ("Conformance (our rules)", check_rules),
    "completeness": ("Completeness", check_completeness),
}
CHECK_LABELS = {k: v[0] for k, v in CHECKS.items()}
