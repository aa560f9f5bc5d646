"""Descriptor cleaning ("C" for text attributes under Clean Descriptors and the
other options whose column says C for a text value).

Cleaning keeps the text but removes, in place, every substring that matches
* an identifier of this dataset's patient/staff, collected *before* de-identification:
  each component (>= 2 chars) of PatientName, OtherPatientNames, PatientBirthName,
  PatientMotherBirthName, ReferringPhysicianName, PerformingPhysicianName,
  OperatorsName, NameOfPhysiciansReadingStudy, RequestingPhysician; the values of
  PatientID, OtherPatientIDs, AccessionNumber, MedicalRecordLocator, PatientAddress,
  PatientTelephoneNumbers, InstitutionName/Address; and PatientBirthDate in
  several spellings;
* generic PHI patterns: e-mail addresses, phone numbers, SSN-like numbers, calendar
  dates (YYYYMMDD, YYYY-MM-DD, MM/DD/YYYY, DD.MM.YYYY, ...), and runs of 7+ digits.
Matches are deleted and the remaining whitespace is collapsed.
"""
from __future__ import annotations

import re
from functools import lru_cache

_GENERIC = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"                                   # e-mail
    r"|(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"                                # SSN
    r"|(?<![\w])(?:\+?\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)"  # phone
    r"|(?<!\d)(?:19|20)\d\d[-/.]?(?:0[1-9]|1[0-2])[-/.]?(?:0[1-9]|[12]\d|3[01])(?!\d)"  # ymd
    r"|(?<!\d)(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|[12]\d|3[01])[/.-](?:19|20)?\d\d(?!\d)"  # m/d/y d.m.y
    r"|(?<!\d)\d{7,}(?!\d)",                                          # MRN-like digit runs
)

NAME_TAGS = (0x00100010, 0x00101001, 0x00101005, 0x00101060, 0x00080090, 0x00081050,
             0x00081070, 0x00081060, 0x00321032)
ID_TAGS = (0x00100020, 0x00101000, 0x00080050, 0x00101090, 0x00101040, 0x00102154,
           0x00080080, 0x00080081)
BIRTH_DATE = 0x00100030


def collect_identifiers(ds) -> tuple:
    """Identifier strings of a dataset (top level only; cheap)."""
    from . import rawvalue

    toks: set = set()
    d = ds._dict
    codec = rawvalue.charset_of(d.get(0x00080005), rawvalue.LATIN1)
    for t in NAME_TAGS:
        if t in d:
            v = rawvalue.value_of(ds, t, codec)
            for one in (v if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]):
                for comp in re.split(r"[\^=\s,]+", str(one or "")):
                    if len(comp) >= 2:
                        toks.add(comp)
    for t in ID_TAGS:
        if t in d:
            v = rawvalue.value_of(ds, t, codec)
            for one in (v if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]):
                s = str(one or "").strip()
                if len(s) >= 2:
                    toks.add(s)
    if BIRTH_DATE in d:
        b = str(rawvalue.value_of(ds, BIRTH_DATE, codec) or "").strip()
        if len(b) == 8 and b.isdigit():
            y, m, dd = b[:4], b[4:6], b[6:]
            toks.update({b, f"{y}-{m}-{dd}", f"{m}/{dd}/{y}", f"{dd}.{m}.{y}", f"{dd}/{m}/{y}"})
    return tuple(sorted(toks, key=lambda s: (-len(s), s)))


@lru_cache(maxsize=256)
def _specific(tokens: tuple):
    if not tokens:
        return None
    alts = "|".join(re.escape(t) for t in tokens)
    return re.compile(r"(?<![A-Za-z0-9])(?:" + alts + r")(?![A-Za-z0-9])", re.IGNORECASE)


_WS = re.compile(r"\s{2,}")


def clean_text(value: str, tokens: tuple) -> str:
    """Return ``value`` with identifier and PHI-pattern substrings removed."""
    if not value:
        return value
    out = value
    spec = _specific(tokens)
    if spec is not None:
        out = spec.sub("", out)
    out = _GENERIC.sub("", out)
    if out is value or out == value:
        return value
    return _WS.sub(" ", out).strip(" -_,;:/")
