"""De-identification self-score of a submission: MIDI-B-style checks computed from what intake
saw (the original file, before the engine changed it) and did (the de-identified file), kept up
to date when corrections rewrite files.

MIDI-B (CBIIT/MIDI_validation_script) scores pass ÷ total over (file, tag, action) checks
against an answer key. Here the "key" is taken from each original as intake reads it, as keyed
hashes (HMAC with TCIA_DEID_SECRET) of the values that must not survive, never the values:

* identifiers  every original identifier (person names and their parts, patient IDs, accession
               numbers, institution, addresses, phones) is absent from the de-identified file;
* dates        every date still present was shifted by its subject's offset (the subject map's);
               one offset per subject, however many batches and corrections later;
* uids         every instance UID is under our root and no original UID is left;
* references   one original UID became one new UID across the collection, and references to
               instances and series resolve to objects of the collection (no dangling one);
* private      every private element kept is on the safe-private list (keep, UID or date);
* burned_in    a file whose original says BurnedInAnnotation YES was masked or flagged;
* observed     every file of the collection went through intake's de-identification.

The score is 100 × passed ÷ items over all checks; `self_score(submission)` returns it with the
failing checks, and `phi/_selfscore.html` shows it (a page, or included in another). A
publication gate refuses a score below settings.TCIA_DEID_MIN_SCORE.
"""
import datetime as dt
import hashlib
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import reverse
from pydicom.datadict import keyword_for_tag

from curation.checks.fixes import value_text
from curation.deid.engine import _UI_KEEP_KEYWORD_PARTS as CLASS_UID_PARTS  # UIDs of classes: never remapped

CHECKS = (
    ("identifiers", "Every original identifier removed or replaced"),
    ("dates", "Dates shifted consistently per subject"),
    ("uids", "UIDs remapped"),
    ("references", "References consistent (one new UID per original, none dangling)"),
    ("private", "Private tags per the safe-private list"),
    ("burned_in", "Burned-in text masked or flagged"),
    ("observed", "Every file de-identified by intake"),
)
LABELS = dict(CHECKS)
DEFAULT_MIN_SCORE = 99.0
EXAMPLES = 3

# direct identifiers (HIPAA's names, IDs, addresses, phones; TCIA removes institution names);
# PN values anywhere are identifiers too
IDENTIFIER_KEYWORDS = frozenset((
    "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "AccessionNumber", "MedicalRecordLocator", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "PatientAddress", "PatientTelephoneNumbers",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PersonAddress", "PersonTelephoneNumbers",
    "MilitaryRank", "BranchOfService", "ResponsibleOrganization", "PatientInsurancePlanCodeSequence", "RegionOfResidence",
    "CountryOfResidence", "StudyID", "RequestingService",
))
TEXT_VRS = frozenset(("LO", "SH", "PN", "LT", "ST", "UT", "UC", "UN", "CS", "AE"))
TOKEN = re.compile(r"[A-Za-z]{3,}")
LAST = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)$")
PRIVATE = re.compile(r'\(([0-9A-F]{4}),"([^"]*)",([0-9a-f]{2})\)$')
DUMMIES = frozenset(("ANONYMIZED", "", "0"))


def _key() -> bytes:
    """BLAKE2b's key (at most 64 bytes) from TCIA_DEID_SECRET."""
    secret = settings.TCIA_DEID_SECRET
    secret = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(b"deid-selfscore\x00" + secret).digest()


def _h(text: str, key: bytes) -> str:
    """A keyed hash (BLAKE2b-64 MAC): compares values without keeping them."""
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8, key=key).hexdigest()


_SEEN: dict = {}  # (key, de-identified text) → its hash: files repeat their codes and descriptions
SEEN_MAX = 100_000


def _h_clean(text: str, key: bytes) -> str:
    """_h of a value of a de-identified file, remembered (the PHI report stores those values in the
    database anyway). Never call it with an original's value: this process would then keep the
    original's identifiers for as long as it runs."""
    h = _SEEN.get((key, text))
    if h is None:
        if len(_SEEN) >= SEEN_MAX:
            _SEEN.clear()
        h = _SEEN[(key, text)] = _h(text, key)
    return h


_KEYWORDS: dict = {}


def _keyword(path: str) -> str:
    tail = path[-11:]
    kw = _KEYWORDS.get(tail)
    if kw is None:
        m = LAST.search(tail)
        kw = (keyword_for_tag((int(m[1], 16) << 16) | int(m[2], 16)) or "") if m else ""
        if len(_KEYWORDS) < 50_000:
            _KEYWORDS[tail] = kw
    return kw


_ODD = frozenset("13579BDF")


def _is_private(path: str) -> bool:
    """A private element, or one inside a private sequence: an odd group anywhere in the path."""
    if '"' in path:
        return True
    i = path.find("(")
    while i >= 0:
        if path[i + 4] in _ODD:
            return True
        i = path.find("(", i + 1)
    return False


def _class_uid(keyword: str) -> bool:
    return any(part in keyword for part in CLASS_UID_PARTS)


def _date_ordinal(text: str):
    t = text.strip()[:8]
    if len(t) != 8 or not t.isdigit():
        return None
    try:
        return dt.date(int(t[:4]), int(t[4:6]), int(t[6:8])).toordinal()
    except ValueError:
        return None


def _texts(elements):
    for path, vr, value in elements:
        if value is None or isinstance(value, (bytes, bytearray)):
            continue  # bulk and binary values hold no text to compare
        yield path, vr, value if type(value) is str else value_text(value)


# ── intake: the original observer and the ingest hook ────────────────────────────────────────

def _identifier_tags():
    from pydicom.datadict import tag_for_keyword

    return frozenset(t for t in (tag_for_keyword(k) for k in IDENTIFIER_KEYWORDS) if t is not None)


_ID_TAGS = _identifier_tags()
_WANTED_VRS = frozenset(("PN", "UI", "DA", "DT", "SQ"))


_STOP: set = set()


def _stop_words() -> set:
    """Words too common in DICOM to tell a person (MIDI-B filters stop words the same way): every
    word of the data dictionary's attribute names and of the de-identification method meanings.
    A surname that is also such a word ("Field", "White") is not looked for in free text."""
    if not _STOP:
        from pydicom.datadict import DicomDictionary

        from curation.deid.profile import BASIC_CODE, OPTIONS

        words = {w.lower() for entry in DicomDictionary.values() for w in TOKEN.findall(entry[2])}
        for text in [BASIC_CODE[1]] + [o[1] for o in OPTIONS.values()]:
            words.update(w.lower() for w in TOKEN.findall(text))
        words.update(("anonymized", "the", "and", "for", "with", "without", "scan", "exam"))
        _STOP.update(words)
    return _STOP


def _name_tokens(text: str) -> list[str]:
    stop = _stop_words()
    return [t.lower() for t in TOKEN.findall(text) if t.lower() not in stop]


def _original_values(ds, prefix, out, inherited=None):
    """(path, VR, text) of the elements the observer needs (PN, UI, DA, DT and the identifier
    attributes, in sequences too), paths as the engine reports them. Values are decoded from the
    raw bytes where that is unambiguous (curation.deid.rawvalue, as the engine's own report) and
    nothing else is converted, so this costs a fraction of a full walk."""
    from pydicom.dataelem import RawDataElement

    from curation.deid import rawvalue

    d = ds._dict
    codec = rawvalue.charset_of(d.get(0x00080005), inherited or rawvalue.LATIN1)
    for tag in d:
        if tag & 0x10000:
            continue  # private: judged on the de-identified file against the safe-private list
        e = d[tag]
        vr = e.VR
        if vr is None or vr == "UN":
            vr = rawvalue.implicit_vr(tag)
        if vr not in _WANTED_VRS and tag not in _ID_TAGS:
            continue
        path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
        value = rawvalue.NOT_DECODED
        if type(e) is RawDataElement and vr != "SQ" and vr is not None:
            value = rawvalue.decode(e, vr, codec)
        if value is rawvalue.NOT_DECODED:
            try:
                elem = ds[tag]
            except Exception:  # noqa: BLE001 - an element pydicom cannot convert: the engine reports it
                continue
            vr, value = elem.VR, elem.value
            if vr == "SQ":
                for i, item in enumerate(value or ()):
                    _original_values(item, f"{path}[{i}]", out, codec)
                continue
        if value is None or isinstance(value, (bytes, bytearray)):
            continue
        out.append((path, vr, value if type(value) is str else value_text(value)))


def observe(dataset, *, submission):
    """Before de-identification: keyed hashes of the identifiers and UIDs, the dates (kept in
    memory until the hook turns them into expected dates), BurnedInAnnotation."""
    key = _key()
    ids, tokens, uids, dates = [], set(), {}, {}
    found = []
    _original_values(dataset, "", found)
    for path, vr, text in found:
        text = text.strip(" \x00")
        if not text:
            continue
        if vr == "PN" or int(path[-10:-6], 16) << 16 | int(path[-5:-1], 16) in _ID_TAGS:
            for part in text.split("\\"):
                part = part.strip()
                if part.upper() not in DUMMIES and len(part) >= 2:
                    ids.append([path, _h(part, key)])
            if vr == "PN":
                tokens.update(_h(t, key) for t in _name_tokens(text))
        elif vr == "UI":
            if not _class_uid(_keyword(path)):
                uids[path] = [_h(u.strip(), key) for u in text.split("\\")]
        elif vr in ("DA", "DT"):
            ordinal = _date_ordinal(text)
            if ordinal is not None:
                dates[path] = ordinal
    burned = str(dataset.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    return {"ids": ids, "tokens": sorted(tokens), "uids": uids, "dates": dates, "burned": burned}


def _offset_for(submission, subject_id, cache):
    """The subject map's offset (0 when full dates are retained)."""
    from curation.deid.profile import TCIA_DEFAULT_OPTIONS
    from curation.models import SubjectMapping

    if "retainLongitudinalFullDates" in (submission.deid_options or TCIA_DEFAULT_OPTIONS):
        return 0
    if subject_id not in cache:
        cache[subject_id] = (SubjectMapping.objects.filter(submission=submission, subject_id=subject_id)
                             .values_list("date_offset_days", flat=True).first())
    return cache[subject_id]


_JUDGES: dict = {}
JUDGE_SECONDS = 30  # how long one submission's options and safe-private list are reused


def _judge_for(submission) -> "_Judge":
    """One judge per submission for a while: its profile, safe-private list and subject offsets
    are read once, not for every file."""
    now = time.monotonic()
    key = (submission.pk, submission.created_at)  # a pk alone can come back (a rolled-back test)
    cached = _JUDGES.get(key)
    if cached is not None and now - cached.made < JUDGE_SECONDS and cached.options == submission.deid_options:
        return cached
    if len(_JUDGES) > 100:
        _JUDGES.clear()
    judge = _JUDGES[key] = _Judge(submission)
    return judge


class _Judge:
    """Per-file checks of a de-identified file against what was carried from its original."""

    def __init__(self, submission):
        self.made = time.monotonic()
        self.options = submission.deid_options
        self.offsets: dict = {}
        from curation.services.deid_config import profile_for, safe_private_dictionary

        self.key = _key()
        self.root = settings.TCIA_UID_ROOT + "."
        self.keep_private = profile_for(submission).has("retainSafePrivate")
        self.safe = safe_private_dictionary() if self.keep_private else None

    def judge(self, elements, carry):
        key = self.key
        now = list(_texts(elements))
        values = {}
        hashes, tokens = set(), set()
        checks = {name: [0, 0, []] for name in ("identifiers", "uids", "private", "burned_in")}

        def fail(name, example):
            checks[name][1] += 1
            if len(checks[name][2]) < EXAMPLES:
                checks[name][2].append(example)

        private_values = []
        parts, words = set(), set()
        for path, vr, text in now:
            values[path] = text
            if vr in TEXT_VRS and text.strip():
                parts.update(part.strip(" \x00") for part in text.split("\\"))
                words.update(TOKEN.findall(text))
            if _is_private(path):
                private_values.append(path)
        # each distinct text and word hashed once (files repeat them: codes, descriptions)
        hashes = {_h_clean(part, key) for part in parts} if carry.get("ids") else set()
        if carry.get("tokens"):
            stop = _stop_words()
            tokens = {_h_clean(w, key) for w in {w.lower() for w in words} if w not in stop}
        # identifiers: none of the original values, nor a part of an original person name
        for path, h in carry.get("ids", []):
            checks["identifiers"][0] += 1
            if h in hashes:
                fail("identifiers", path)
        for h in carry.get("tokens", []):
            checks["identifiers"][0] += 1
            if h in tokens:
                fail("identifiers", "a part of an original person name")
        # UIDs: under our root, none of the originals
        original_uids = {h for hs in carry.get("uids", {}).values() for h in hs}
        pairs, refs = [], []
        for path, vr, text in now:
            if vr != "UI" or _is_private(path) or not text.strip():
                continue
            keyword = _keyword(path)
            if _class_uid(keyword):
                continue
            for uid in text.split("\\"):
                uid = uid.strip(" \x00")
                checks["uids"][0] += 1
                if not uid.startswith(self.root) or _h(uid, key) in original_uids:
                    fail("uids", path)
                elif keyword == "ReferencedSOPInstanceUID":
                    refs.append(["sop", uid])
                elif keyword == "SeriesInstanceUID" and "[" in path:
                    refs.append(["series", uid])
        for path, hs in carry.get("uids", {}).items():
            current = values.get(path, "")
            for h, uid in zip(hs, current.split("\\") if current else []):
                pairs.append([h, uid.strip(" \x00")])
        # dates: the shift each date still present got (judged per subject by the score)
        offsets = Counter()
        for path, (base, off) in carry.get("dates", {}).items():
            current = values.get(path)
            ordinal = _date_ordinal(current) if current else None
            if ordinal is not None:
                offsets[str(ordinal - (base - off))] += 1
        # private elements: on the safe list (creator elements of kept blocks are fine)
        for path in private_values:
            m = PRIVATE.search(path)
            if m is None:
                if re.search(r"\([0-9A-F]{4},00[1-9A-F][0-9A-F]\)$", path):
                    continue  # a Private Creator element
                checks["private"][0] += 1
                fail("private", path)
                continue
            checks["private"][0] += 1
            disposition = self.safe.lookup(int(m[1], 16), m[2], int(m[3], 16)) if self.safe is not None else None
            if disposition is None or disposition == "delete":
                fail("private", path)
        # burned-in text: masked or flagged when the original said so
        risk, handled = carry.get("burned", [False, False])
        if risk:
            checks["burned_in"][0] += 1
            if not handled:
                fail("burned_in", "BurnedInAnnotation YES, neither masked nor flagged")
        return checks, dict(offsets), pairs, refs


def _carry(notes, result, submission, cache):
    offset = _offset_for(submission, result.subject_id, cache)
    if offset is None:
        offset = result.date_offset_days  # no mapping row (an engine without the subject map)
    handled = bool(result.masked_rects) or any("BurnedInAnnotation" in w for w in result.warnings)
    return {"ids": notes["ids"], "tokens": notes["tokens"], "uids": notes["uids"],
            "dates": {p: [o + offset, offset] for p, o in notes["dates"].items()},
            "burned": [notes["burned"], handled]}


def _observation(collection_id, image, elements, carry, subject_id, judge):
    from .models import DeidObservation

    checks, offsets, pairs, refs = judge.judge(elements, carry)
    return DeidObservation(collection_id=collection_id, image_id=image.pk, stored_file_id=image.stored_file_id,
                           subject_id=subject_id[:64], checks=checks, offsets=offsets, uid_pairs=pairs, refs=refs,
                           carry=carry)


def _record(collection_id, image, elements, carry, subject_id, judge, new=False):
    """Write the image's record: a new image's with one INSERT, a corrected one's in place."""
    from .models import DeidObservation

    row = _observation(collection_id, image, elements, carry, subject_id, judge)
    if new:
        row.save(force_insert=True)
        return
    DeidObservation.objects.update_or_create(collection_id=collection_id, image_id=image.pk, defaults={
        f: getattr(row, f) for f in ("stored_file_id", "subject_id", "checks", "offsets", "uid_pairs", "refs", "carry")})


def on_ingest(*, submission=None, image, elements, replaced_file=None, original=None, **_):
    """Ingest hook: judge a file intake de-identified (with its original's notes), or a file a
    correction rewrote (with what its earlier record carried)."""
    from .models import DeidObservation

    if submission is None:
        return
    collection_id = submission.collection_id
    if original is not None and original.notes.get(observe) is not None and original.deid is not None:
        judge = _judge_for(submission)
        carry = _carry(original.notes[observe], original.deid, submission, judge.offsets)
        _record(collection_id, image, elements, carry, original.deid.subject_id, judge, new=True)
        return
    if replaced_file is None:
        return
    row = DeidObservation.objects.filter(collection_id=collection_id, image_id=image.pk).first()
    if row is None:
        return  # never observed: the score counts it under "observed"
    carry = dict(row.carry)
    if carry.get("burned", [False, False])[0]:
        from curation.models import CorrectionFile

        masked = CorrectionFile.objects.filter(image=image, new_file_id=image.stored_file_id,
                                               correction__kind="pixel_mask").exists()
        carry["burned"] = [True, carry["burned"][1] or masked]
    _record(collection_id, image, elements, carry, row.subject_id, _judge_for(submission))


def on_ingest_many(*, submission, entries):
    """The same for a chunk of new files: one INSERT for their records."""
    from .models import DeidObservation

    judge = _judge_for(submission)
    rows = []
    for e in entries:
        original = e.original
        if original is None or original.notes.get(observe) is None or original.deid is None:
            continue
        carry = _carry(original.notes[observe], original.deid, submission, judge.offsets)
        rows.append(_observation(submission.collection_id, e.image, e.elements, carry, original.deid.subject_id, judge))
    DeidObservation.objects.bulk_create(rows, batch_size=500)


# ── the score ────────────────────────────────────────────────────────────────────────────────

@dataclass
class CheckResult:
    key: str
    label: str
    items: int = 0
    failed: int = 0
    examples: list = field(default_factory=list)  # [(image id or None, detail)]

    @property
    def passed(self) -> int:
        return self.items - self.failed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def fail(self, n, image_id, detail):
        self.failed += n
        if len(self.examples) < EXAMPLES:
            self.examples.append((image_id, detail))


@dataclass
class SelfScore:
    submission: object
    score: float | None  # None: no files yet
    items: int
    passed: int
    checks: list
    threshold: float
    files: int

    @property
    def failing(self) -> list:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return self.score is None or self.score >= self.threshold

    @property
    def url(self) -> str:
        return reverse("curation:phi:selfscore", args=[self.submission.collection.slug])


def min_score() -> float:
    return float(getattr(settings, "TCIA_DEID_MIN_SCORE", DEFAULT_MIN_SCORE))


def self_score(submission) -> SelfScore:
    """The submission's score and every check's items and failures (see the module docstring)."""
    from collections_app.models import Image, Series, Study
    from curation.models import SubjectMapping

    from .models import DeidObservation

    collection = submission.collection
    results = {k: CheckResult(k, label) for k, label in CHECKS}
    current = dict(Image.objects.filter(collection=collection).values_list("pk", "stored_file_id"))
    mapping = dict(SubjectMapping.objects.filter(submission=submission).values_list("subject_id", "date_offset_days"))
    full_dates = "retainLongitudinalFullDates" in (submission.deid_options or ())
    seen = set()
    new_of = defaultdict(set)  # original UID hash -> UIDs now
    refs = defaultdict(list)  # (kind, uid) -> [image ids]
    rows = (DeidObservation.objects.filter(collection=collection)
            .values_list("image_id", "stored_file_id", "subject_id", "checks", "offsets", "uid_pairs", "refs"))
    for image_id, stored_file_id, subject_id, checks, offsets, pairs, file_refs in rows.iterator(chunk_size=2000):
        if current.get(image_id) != stored_file_id:
            continue  # the image is gone, or its file changed without the hook (counted under observed)
        seen.add(image_id)
        for name, (items, failed, examples) in checks.items():
            r = results[name]
            r.items += items
            if failed:
                r.fail(failed, image_id, ", ".join(examples))
        expected = 0 if full_dates else mapping.get(subject_id)
        for days, n in offsets.items():
            results["dates"].items += n
            if expected is None or int(days) != expected:
                results["dates"].fail(n, image_id, f"dates shifted by {days} days; the subject's offset is "
                                                   f"{expected if expected is not None else 'unknown'}")
        for h, uid in pairs:
            new_of[h].add(uid)
        for kind, uid in file_refs:
            refs[(kind, uid)].append(image_id)
    # references: one new UID per original; references resolve
    ref_result = results["references"]
    ref_result.items += len(new_of)
    for h, uids in new_of.items():
        if len(uids) > 1:
            ref_result.fail(1, None, f"one original UID became {len(uids)} different UIDs")
    wanted = sorted({uid for _kind, uid in refs})
    known = set()  # a referenced SOP instance may be an image or (RT's study references) a study
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        known.update(Image.objects.filter(collection=collection, sop_instance_uid__in=chunk)
                     .values_list("sop_instance_uid", flat=True))
        known.update(Series.objects.filter(collection=collection, series_instance_uid__in=chunk)
                     .values_list("series_instance_uid", flat=True))
        known.update(Study.objects.filter(collection=collection, study_instance_uid__in=chunk)
                     .values_list("study_instance_uid", flat=True))
    for (kind, uid), images in refs.items():
        ref_result.items += len(images)
        if uid not in known:
            ref_result.fail(len(images), images[0], f"a reference to an absent {'instance' if kind == 'sop' else 'series'}")
    # observed: every current file has a record of intake's de-identification
    observed = results["observed"]
    observed.items = len(current)
    for image_id in current:
        if image_id not in seen:
            observed.fail(1, image_id, "no record of de-identification at intake")
    checks = [results[k] for k, _ in CHECKS]
    items = sum(c.items for c in checks)
    passed = sum(c.passed for c in checks)
    score = round(100.0 * passed / items, 2) if items else None
    return SelfScore(submission=submission, score=score, items=items, passed=passed, checks=checks,
                     threshold=min_score(), files=len(current))


def gate(collection) -> list[tuple[str, str]]:
    """Publication gate: the self-score is at least TCIA_DEID_MIN_SCORE."""
    from curation.models import Submission

    submission = Submission.objects.filter(collection=collection).select_related("collection").first()
    if submission is None:
        return []
    result = self_score(submission)
    if result.ok:
        return []
    names = "; ".join(c.label for c in result.failing)
    return [(f"De-identification self-score {result.score:g} % is below the minimum of {result.threshold:g} % "
             f"(failing: {names}).", result.url)]
