"""Subject identity and per-subject date offsets.

The engine asks a *resolver* for the subject of each dataset. ``SubjectMap`` is
the file-backed implementation (CSV ``original_patient_id,subject_id,date_offset_days``);
the Django intake plugs in a DB-backed resolver that satisfies ``SubjectResolver``
(or passes any callable ``(original_patient_id, dataset) -> Subject``).
"""
from __future__ import annotations

import csv
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, runtime_checkable

TCIA_OFFSET_RANGE = (-3500, -1700)
CSV_COLUMNS = ("original_patient_id", "subject_id", "date_offset_days")


@dataclass(frozen=True)
class Subject:
    subject_id: str
    date_offset_days: int


@runtime_checkable
class SubjectResolver(Protocol):
    """Anything that maps an original PatientID to a Subject.

    ``dataset`` is the (not yet de-identified) pydicom Dataset, for resolvers that
    need more than PatientID (e.g. issuer, or a site column). Implementations must
    return the same Subject for the same patient every time.
    """

    def resolve(self, original_patient_id: str, dataset) -> Subject: ...


class CallableResolver:
    """Adapts ``fn(original_patient_id, dataset) -> Subject`` to SubjectResolver."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def resolve(self, original_patient_id: str, dataset) -> Subject:
        s = self.fn(original_patient_id, dataset)
        if not isinstance(s, Subject):
            s = Subject(str(s[0]), int(s[1]))
        return s


def as_resolver(obj) -> SubjectResolver:
    if obj is None:
        return SubjectMap()
    if hasattr(obj, "resolve"):
        return obj
    if callable(obj):
        return CallableResolver(obj)
    raise TypeError(f"not a subject resolver: {obj!r}")


_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,50}$")


class SubjectMap:
    """In-memory subject map; new patients get ``<prefix>-NNNN`` sequentially and a
    random offset (days) within ``offset_range`` (inclusive). Thread-safe."""

    def __init__(self, prefix: str = "SUBJ", offset_range: tuple = TCIA_OFFSET_RANGE,
                 entries: dict | None = None, seed: int | None = None, digits: int = 4):
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"invalid subject prefix {prefix!r}")
        lo, hi = sorted(int(x) for x in offset_range)
        self.prefix = prefix
        self.offset_range = (lo, hi)
        self.digits = digits
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self._by_pid: dict = dict(entries or {})
        self._lock = threading.Lock()
        self._next = self._compute_next()
        self.dirty = False

    def _compute_next(self) -> int:
        n = 0
        pat = re.compile(re.escape(self.prefix) + r"-(\d+)$")
        for s in self._by_pid.values():
            m = pat.match(s.subject_id)
            if m:
                n = max(n, int(m.group(1)))
        return n + 1

    # SubjectResolver ---------------------------------------------------------
    def resolve(self, original_patient_id: str, dataset=None) -> Subject:
        pid = (original_patient_id or "").strip()
        s = self._by_pid.get(pid)
        if s is not None:
            return s
        with self._lock:
            s = self._by_pid.get(pid)
            if s is None:
                used = {x.subject_id for x in self._by_pid.values()}
                while True:
                    sid = f"{self.prefix}-{self._next:0{self.digits}d}"
                    self._next += 1
                    if sid not in used:
                        break
                s = Subject(sid, self._rng.randint(*self.offset_range))
                self._by_pid[pid] = s
                self.dirty = True
        return s

    def get(self, original_patient_id: str) -> Subject | None:
        return self._by_pid.get((original_patient_id or "").strip())

    def add(self, original_patient_id: str, subject: Subject) -> None:
        with self._lock:
            self._by_pid[(original_patient_id or "").strip()] = subject
            self._next = self._compute_next()
            self.dirty = True

    def __len__(self) -> int:
        return len(self._by_pid)

    def __contains__(self, pid: str) -> bool:
        return (pid or "").strip() in self._by_pid

    def items(self) -> Iterator:
        return iter(sorted(self._by_pid.items(), key=lambda kv: kv[1].subject_id))

    def as_dict(self) -> dict:
        return dict(self._by_pid)

    # CSV ------------------------------------------------------------------------
    @classmethod
    def load_csv(cls, path: str | Path, prefix: str = "SUBJ", offset_range: tuple = TCIA_OFFSET_RANGE,
                 seed: int | None = None) -> "SubjectMap":
        entries = {}
        with Path(path).open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: subject map lacks column(s) {sorted(missing)}")
            for i, rec in enumerate(reader, start=2):
                pid = rec["original_patient_id"].strip()
                try:
                    entries[pid] = Subject(rec["subject_id"].strip(), int(rec["date_offset_days"]))
                except ValueError as exc:
                    raise ValueError(f"{path}:{i}: bad date_offset_days {rec['date_offset_days']!r}") from exc
        return cls(prefix=prefix, offset_range=offset_range, entries=entries, seed=seed)

    def save_csv(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(CSV_COLUMNS)
            for pid, s in self.items():
                w.writerow((pid, s.subject_id, s.date_offset_days))
        tmp.replace(path)
        self.dirty = False
