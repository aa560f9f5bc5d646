"""Precision and recall of the PHI report's "likely PHI" heuristics, per kind, on a labelled set
of synthesized values (tests/phi/data/phi_labels.csv: times, device and station names, person
names, IDs, dates, addresses, phones, e-mails, descriptions, numbers, UIDs; no real PHI).

The baseline is the heuristic as it was before issue 17 (kept below, unchanged), measured in the
same run on the same set:

    .venv/bin/python bench/phi_heuristics.py [--errors]
"""
import csv
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LABELS = ROOT / "tests" / "phi" / "data" / "phi_labels.csv"
KINDS = ("name", "date", "id", "address", "phone", "email")

# ── the heuristic before issue 17 (baseline) ──────────────────────────────────────────────
_DATE_RE = re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b|\b\d{1,2}[/.-]\d{1,2}[/.-](19|20)?\d{2}\b")
_PHONE_RE = re.compile(r"(\+?\d{1,2}[\s.-])?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_ADDRESS_RE = re.compile(r"\b\d{1,5}\s+\w+(\s\w+)*\s+(street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct)\b",
                         re.I)
_ID_RE = re.compile(r"^[A-Za-z]{0,4}[-_]?\d{5,}[A-Za-z]?$")
_ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers)$")


def baseline_kinds(keyword, vr, value):
    if not value.strip():
        return []
    kinds = []
    if vr == "PN" or ("Name" in keyword and vr in ("LO", "SH", "LT", "ST", "UT", "UN")):
        kinds.append("name")
    if vr in ("DA", "DT") or (vr in ("LO", "SH", "LT", "ST", "UT", "UN", "UC") and _DATE_RE.search(value)):
        kinds.append("date")
    if vr not in ("UI", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US") and (
            _ID_KEYWORD.search(keyword) or _ID_RE.match(value.strip())):
        kinds.append("id")
    if "Address" in keyword or _ADDRESS_RE.search(value):
        kinds.append("address")
    if "Telephone" in keyword or (vr not in ("DS", "IS", "UI") and _PHONE_RE.search(value)):
        kinds.append("phone")
    if _EMAIL_RE.search(value):
        kinds.append("email")
    return kinds


def load(path=LABELS):
    with open(path, newline="") as fh:
        return [(r["keyword"], r["vr"], r["value"], {k for k in r["kinds"].split(";") if k}) for r in csv.DictReader(fh)]


def score(fn, rows):
    """{kind: (tp, fp, fn, precision, recall)} and the misclassified rows."""
    out, errors = {}, []
    for kind in KINDS:
        tp = fp = fn_ = 0
        for keyword, vr, value, truth in rows:
            got = kind in fn(keyword, vr, value)
            want = kind in truth
            tp += got and want
            fp += got and not want
            fn_ += want and not got
            if got != want:
                errors.append((kind, "false positive" if got else "missed", keyword, vr, value))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn_) if tp + fn_ else 1.0
        out[kind] = (tp, fp, fn_, precision, recall)
    return out, errors


def main(argv):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from curation.phi.report import phi_kinds

    rows = load()
    now, errors = score(phi_kinds, rows)
    before, _ = score(baseline_kinds, rows)
    print(f"PHI heuristics on {len(rows)} labelled values ({LABELS.relative_to(ROOT)})")
    print(f"{'kind':8} {'n':>4}  {'precision':>9} {'recall':>7}   {'baseline P':>10} {'baseline R':>10}   {'FP now/base':>11}")
    for kind in KINDS:
        tp, fp, fn_, p, r = now[kind]
        _, bfp, _, bp, br = before[kind]
        print(f"{kind:8} {tp + fn_:>4}  {p:>9.3f} {r:>7.3f}   {bp:>10.3f} {br:>10.3f}   {fp:>5}/{bfp:<5}")
    if "--errors" in argv:
        for e in errors:
            print("  ", *e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
