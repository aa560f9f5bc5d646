"""Loading of PS3.15 Table E.1-1 (``tables/ps315_e11.csv``)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLES_DIR = Path(__file__).resolve().parent / "tables"
DEFAULT_TABLE = TABLES_DIR / "ps315_e11.csv"

OPTION_COLUMNS = (
    "rtnSafePrivOpt", "rtnUIDsOpt", "rtnDevIdOpt", "rtnInstIdOpt", "rtnPatCharsOpt",
    "rtnLongFullDatesOpt", "rtnLongModifDatesOpt", "cleanDescOpt", "cleanStructContOpt",
    "cleanGraphOpt",
)
PRIVATE_ROW = "(GGGG,EEEE)"


@dataclass(frozen=True)
class TableRow:
    tag: str            # "(0010,0010)" or a pattern "(50XX,XXXX)", "(60XX,3000)", "(GGGG,EEEE)"
    name: str
    keyword: str
    basic: str          # D, Z, X, K, C, U, Z/D, X/Z, X/D, X/Z/D, X/Z/U*
    options: dict       # option column -> code (only non-empty cells)

    @property
    def is_pattern(self) -> bool:
        return "X" in self.tag[1:10] or self.tag == PRIVATE_ROW

    @property
    def tag_int(self) -> int:
        return int(self.tag[1:5] + self.tag[6:10], 16)


@dataclass(frozen=True)
class ConfidentialityTable:
    rows: tuple
    edition: str
    meta: dict

    def __len__(self) -> int:
        return len(self.rows)

    def by_tag(self) -> dict:
        return {r.tag: r for r in self.rows}


def load_table(path: str | Path | None = None) -> ConfidentialityTable:
    path = Path(path) if path else DEFAULT_TABLE
    if path == DEFAULT_TABLE:
        return _load_default()
    return _load(path)


@lru_cache(maxsize=1)
def _load_default() -> ConfidentialityTable:
    return _load(DEFAULT_TABLE)


def _load(path: Path) -> ConfidentialityTable:
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            opts = {c: rec[c].strip() for c in OPTION_COLUMNS if rec.get(c, "").strip()}
            rows.append(TableRow(rec["tag"].strip().upper(), rec["name"], rec["keyword"],
                                 rec["basic"].strip(), opts))
    meta_path = path.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return ConfidentialityTable(tuple(rows), meta.get("edition", "unknown"), meta)
