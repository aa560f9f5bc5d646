"""Regenerate ``ps315_e11.csv`` (PS3.15 Table E.1-1) from data shipped in PyPI packages.

This is a *build-time* helper; the engine only reads the CSV it writes.

Sources (both are machine-readable copies of the NEMA table, which is the
authority; nothing but the table's facts -- tag, name, action codes -- is taken):

* basic-profile column, 2026c edition: ``dicom-anonymizer`` 2.1.0 (BSD-3-Clause),
  module ``dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py``
  (tag lists per action code).  Install it with ``pip install dicom-anonymizer==2.1.0``.
* option columns: PS3.15 Table E.1-1 as scraped on 2024-09-19 and shipped in the
  ``idiscore`` 1.2.0 wheel, file ``idiscore/_public_dicom.py``.  The wheel is *not*
  installed or imported; pass the path of that file (``pip download idiscore==1.2.0
  --no-deps`` and unzip).  Rows of 2026c absent from that scrape get basic-only
  codes (empty option cells).

Usage::

    python curation/deid/tables/build_ps315_table.py \
        --idiscore-public-dicom /tmp/idis/x/idiscore/_public_dicom.py
"""
from __future__ import annotations

import argparse
import ast
import csv
import datetime as _dt
import importlib
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

OPTION_COLUMNS = [
    "rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt",
    "rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt", "cleanStructContOpt",
    "cleanGraphOpt",
]
# idiscore rule-set code -> our column
CODE_TO_COLUMN = {
    "113111": "rtnSafePrivOpt", "113110": "rtnUIDsOpt", "113109": "rtnDevIdOpt",
    "113112": "rtnInstIdOpt", "113108": "rtnPatCharsOpt", "113106": "rtnLongFullDatesOpt",
    "113107": "rtnLongModifDatesOpt", "113105": "cleanDescOpt", "113104": "cleanStructContOpt",
    "113103": "cleanGraphOpt",
}
ACTION_NAME_TO_CODE = {
    "DUMMY": "D", "EMPTY": "Z", "REMOVE": "X", "KEEP": "K", "CLEAN": "C", "UID": "U",
    "EMPTY_OR_DUMMY": "Z/D", "REPLACE_OR_DUMMY": "X/Z", "REMOVE_OR_EMPTY": "X/Z",
    "REMOVE_OR_DUMMY": "X/D", "REMOVE_OR_EMPTY_OR_DUMMY": "X/Z/D",
    "REMOVE_OR_EMPTY_OR_UID": "X/Z/U*",
}
LIST_TO_CODE = {
    "D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z", "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*",
}
PRIVATE_KEY = "(GGGG,EEEE)"  # "where GGGG is odd"


def _pattern_key(group: int, elem: int, gmask: int, emask: int) -> str:
    g = f"{group:04X}"
    e = f"{elem:04X}"
    if gmask == 0xFF00:
        g = g[:2] + "XX"
    if emask == 0x0000:
        e = "XXXX"
    return f"({g},{e})"


def load_basic_2026c():
    mod = importlib.import_module("dicomanonymizer.dicom_anonymization_databases.dicomfields_2026c")
    src = Path(mod.__file__).read_text()
    # names come from the trailing comments of the tag tuples
    names: dict[str, str] = {}
    for m in re.finditer(r"\(\s*(0x[0-9A-Fa-f]{4}),\s*(0x[0-9A-Fa-f]{4})(?:,\s*(0x[0-9A-Fa-f]{4}),\s*(0x[0-9A-Fa-f]{4}))?,?\s*\),\s*#\s*(.+)", src):
        g, e, gm, em, name = m.groups()
        key = _pattern_key(int(g, 16), int(e, 16), int(gm, 16), int(em, 16)) if gm else f"({int(g,16):04X},{int(e,16):04X})"
        names[key] = name.strip()
    rows: dict[str, dict] = {}
    for list_name, code in LIST_TO_CODE.items():
        for t in getattr(mod, list_name):
            key = _pattern_key(*t) if len(t) == 4 else f"({t[0]:04X},{t[1]:04X})"
            if key in rows:
                raise SystemExit(f"duplicate {key} in dicomfields_2026c")
            rows[key] = {"tag": key, "name": names.get(key, ""), "basic": code}
    return rows


def load_options_idiscore(path: Path):
    tree = ast.parse(path.read_text())
    options: dict[str, dict[str, str]] = {}
    scrape_date = re.search(r"scrape date:\s*(\S+)", path.read_text())
    basic_keys = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "RawNemaRuleSet"):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        code = kw["code"].value
        for tup in kw["rules"].elts:
            ident, action = tup.elts
            kind = ident.func.id
            if kind == "PrivateTags":
                key = PRIVATE_KEY
            else:
                raw = ident.args[0].value.upper()
                key = f"({raw[:4]},{raw[4:]})"
            act = ACTION_NAME_TO_CODE[action.attr]
            if code == "113100":
                basic_keys.add(key)
                continue
            options.setdefault(key, {})[CODE_TO_COLUMN[code]] = act
    return options, basic_keys, (scrape_date.group(1) if scrape_date else "unknown")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idiscore-public-dicom", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=HERE / "ps315_e11.csv")
    args = ap.parse_args(argv)

    from pydicom.datadict import keyword_for_tag

    rows = load_basic_2026c()
    rows[PRIVATE_KEY] = {"tag": PRIVATE_KEY, "name": "Private Attributes (odd group)", "basic": "X"}
    options, opt_basic_keys, scrape = load_options_idiscore(args.idiscore_public_dicom)
    missing_in_2026c = sorted(set(options) - set(rows))
    if missing_in_2026c:
        raise SystemExit(f"option rows without a 2026c basic row: {missing_in_2026c}")
    basic_only = sorted(set(rows) - opt_basic_keys)

    out_rows = []
    for key in sorted(rows):
        r = rows[key]
        kw = ""
        if "X" not in key[1:10] and key != PRIVATE_KEY:
            kw = keyword_for_tag(int(key[1:5] + key[6:10], 16)) or ""
        rec = {"tag": key, "name": r["name"], "keyword": kw, "basic": r["basic"]}
        rec.update({c: options.get(key, {}).get(c, "") for c in OPTION_COLUMNS})
        out_rows.append(rec)

    with args.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["tag", "name", "keyword", "basic", *OPTION_COLUMNS], lineterminator="\n")
        w.writeheader()
        w.writerows(out_rows)
    meta = {
        "table": "DICOM PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes",
        "edition": "2026c",
        "basic_column_edition": "2026c (dicom-anonymizer 2.1.0 dicomfields_2026c.py)",
        "option_columns_source": f"PS3.15 Table E.1-1 scraped {scrape} (idiscore 1.2.0 _public_dicom.py)",
        "row_count": len(out_rows),
        "rows_basic_only_not_in_option_source": len(basic_only),
        "generated": _dt.date.today().isoformat(),
        "generator": "curation/deid/tables/build_ps315_table.py",
    }
    (args.out.with_suffix(".meta.json")).write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))
    print("basic-only rows (new after option source):", ", ".join(basic_only))


if __name__ == "__main__":
    main()
