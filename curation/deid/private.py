"""Safe-private dictionary (Retain Safe Private Option, PS3.15 E.3.10)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .table import TABLES_DIR

DEFAULT_SAFE_PRIVATE = TABLES_DIR / "safe_private.csv"

KEEP, DELETE, UID, DATE = "keep", "delete", "uid", "date"
ACTIONS = (KEEP, DELETE, UID, DATE)
_ALIASES = {"k": KEEP, "d": DELETE, "h": UID, "hash": UID, "o": DATE, "oi": DATE, "shift": DATE,
            "na": DELETE, "remove": DELETE, "x": DELETE}


def normalize_creator(creator) -> str:
    if isinstance(creator, bytes):
        creator = creator.decode("latin-1")
    return str(creator).strip(" \x00")


@dataclass(frozen=True)
class SafePrivateEntry:
    group: int
    creator: str
    element: int          # low byte (0x00-0xFF) of the element number
    action: str
    vr: str = ""
    name: str = ""


class SafePrivateDictionary:
    """Maps (group, private creator, element low byte) to keep/delete/uid/date."""

    def __init__(self, entries: Iterable[SafePrivateEntry] = ()):
        self._map: dict = {}
        for e in entries:
            self.add(e)

    def add(self, e: SafePrivateEntry) -> None:
        action = _ALIASES.get(e.action.lower(), e.action.lower())
        if action not in ACTIONS:
            raise ValueError(f"bad safe-private action {e.action!r} for {e}")
        if not (e.group & 1):
            raise ValueError(f"private group must be odd: {e.group:04x}")
        self._map[(e.group, normalize_creator(e.creator), e.element & 0xFF)] = action

    def lookup(self, group: int, creator: str, element_low: int) -> str | None:
        return self._map.get((group, creator, element_low))

    def __len__(self) -> int:
        return len(self._map)

    def __iter__(self):
        for (g, c, e), a in sorted(self._map.items()):
            yield SafePrivateEntry(g, c, e, a)

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> "SafePrivateDictionary":
        """Rows with keys group, creator, element (hex strings or ints), action[, vr, name]."""
        d = cls()
        for r in rows:
            d.add(SafePrivateEntry(_int(r["group"]), r["creator"], _int(r["element"]) & 0xFF,
                                   str(r["action"]).strip(), r.get("vr", "") or "", r.get("name", "") or ""))
        return d

    @classmethod
    def load(cls, path: str | Path) -> "SafePrivateDictionary":
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("group", "").strip() and not r["group"].startswith("#")]
        return cls.from_rows(rows)

    @classmethod
    def load_default(cls) -> "SafePrivateDictionary":
        return cls.load(DEFAULT_SAFE_PRIVATE)


def _int(v) -> int:
    if isinstance(v, int):
        return v
    v = str(v).strip().lower()
    if v.startswith("0x"):
        v = v[2:]
    return int(v, 16)
