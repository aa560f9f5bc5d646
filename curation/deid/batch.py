"""Directory batch de-identification (used by ``manage.py deidentify``; no Django).

Output layout: OUT_DIR mirrors the relative paths of IN_DIR (a file ``IN/a/b.dcm``
is written to ``OUT/a/b.dcm``), so nothing collides and curators can diff trees.
"""
from __future__ import annotations

import os
import secrets
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from .engine import Deidentifier, DeidResult
from .pixels import MaskRules
from .private import SafePrivateDictionary
from .profile import Profile
from .subjects import TCIA_OFFSET_RANGE, SubjectMap

DEFAULT_UID_ROOT = "1.3.6.1.4.1.14519.5.2.1.9999"
SECRET_ENV = "DEID_SECRET"


@dataclass
class BatchConfig:
    in_dir: Path
    out_dir: Path
    profile: str = "tcia"
    subjects_csv: Path | None = None
    uid_root: str = DEFAULT_UID_ROOT
    secret: bytes = b""
    workers: int = 1
    prefix: str = "SUBJ"
    offset_range: tuple = TCIA_OFFSET_RANGE
    safe_private_csv: Path | None = None
    masks_csv: Path | None = None
    uid_namespace: str = ""  # e.g. the collection's name: the same original UID maps differently per namespace


@dataclass
class BatchSummary:
    files: int = 0
    ok: int = 0
    failed: int = 0
    subjects: int = 0
    new_subjects: int = 0
    counts: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)      # (path, reason)
    warnings: list = field(default_factory=list)    # (path, message)
    subjects_csv: Path | None = None
    masked_files: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.files and self.ok == 0 else (1 if not self.files else 0)


def load_secret(path: str | Path | None, *, create: bool = True) -> tuple:
    """(secret bytes, note). Reads the file; creates it (mode 600) when missing;
    without a path uses $DEID_SECRET, else an ephemeral random secret."""
    if path:
        p = Path(path)
        if p.exists():
            data = p.read_bytes().strip()
            if not data:
                raise ValueError(f"secret file {p} is empty")
            return data, ""
        if not create:
            raise FileNotFoundError(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        return p.read_bytes().strip(), f"created new secret file {p} (keep it: UIDs depend on it)"
    env = os.environ.get(SECRET_ENV, "").strip()
    if env:
        return env.encode(), ""
    return secrets.token_hex(32).encode(), (
        f"no --secret-file and no ${SECRET_ENV}: using a one-off random secret, "
        "UIDs will differ from other runs")


def find_files(in_dir: Path) -> list:
    out = []
    for root, dirs, files in os.walk(in_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith("."):
                out.append(Path(root) / f)
    return out


def default_subjects_csv(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.parent / f"{out_dir.name}-subjects.csv"


# --------------------------------------------------------------------- workers
_ENGINE: Deidentifier | None = None


class _FrozenResolver:
    """Worker-side resolver over subjects pre-assigned by the parent process."""

    def __init__(self, entries: dict):
        self.entries = entries

    def resolve(self, pid, dataset=None):
        s = self.entries.get((pid or "").strip())
        if s is None:
            raise KeyError(f"PatientID {pid!r} was not pre-assigned a subject")
        return s


def _make_engine(cfg: BatchConfig, subjects) -> Deidentifier:
    safe = SafePrivateDictionary.load(cfg.safe_private_csv) if cfg.safe_private_csv else None
    masks = MaskRules.load_csv(cfg.masks_csv) if cfg.masks_csv else None
    return Deidentifier(profile=Profile.from_names(cfg.profile), uid_root=cfg.uid_root, secret=cfg.secret,
                        subjects=subjects, safe_private=safe, masks=masks, uid_namespace=cfg.uid_namespace)


def _init_worker(cfg: BatchConfig, entries: dict):
    global _ENGINE
    _ENGINE = _make_engine(cfg, _FrozenResolver(entries))


def _work(job) -> DeidResult:
    src, dst = job
    return _ENGINE.deidentify_file(src, dst)


def _prescan_patient_id(path: Path) -> str | None:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"], force=True)
        return str(ds.get("PatientID", "") or "").strip()
    except Exception:  # noqa: BLE001 - the real pass reports the error
        return None


# --------------------------------------------------------------------- driver
def run_batch(cfg: BatchConfig, progress: bool = True, log=None) -> BatchSummary:
    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    in_dir, out_dir = Path(cfg.in_dir), Path(cfg.out_dir)
    if not in_dir.is_dir():
        raise NotADirectoryError(f"input directory {in_dir} does not exist")
    if out_dir.resolve() == in_dir.resolve() or in_dir.resolve() in out_dir.resolve().parents:
        raise ValueError("OUT_DIR must not be IN_DIR or inside it")
    subjects_csv = Path(cfg.subjects_csv) if cfg.subjects_csv else default_subjects_csv(out_dir)
    if subjects_csv.exists():
        smap = SubjectMap.load_csv(subjects_csv, prefix=cfg.prefix, offset_range=cfg.offset_range)
    else:
        smap = SubjectMap(prefix=cfg.prefix, offset_range=cfg.offset_range)
    before = len(smap)
    files = find_files(in_dir)
    jobs = [(str(f), str(out_dir / f.relative_to(in_dir))) for f in files]
    summary = BatchSummary(files=len(files), subjects_csv=subjects_csv)
    out_dir.mkdir(parents=True, exist_ok=True)

    def collect(res: DeidResult):
        if res.ok:
            summary.ok += 1
            summary.counts.update(res.counts)
            if res.masked_rects:
                summary.masked_files += 1
            for w in res.warnings:
                summary.warnings.append((res.source, w))
        else:
            summary.failed += 1
            for e in res.errors:
                reason = e[len(res.source) + 2:] if e.startswith(res.source + ": ") else e
                summary.errors.append((res.source, reason))

    bar = tqdm(total=len(jobs), unit="file", disable=not progress, file=sys.stderr, desc="de-identify")
    try:
        if cfg.workers <= 1 or len(jobs) < 2:
            engine = _make_engine(cfg, smap)
            for src, dst in jobs:
                collect(engine.deidentify_file(src, dst))
                bar.update(1)
        else:
            # assign subjects in the parent, in file order, so numbering does not depend on scheduling
            for src, _ in jobs:
                pid = _prescan_patient_id(Path(src))
                if pid is not None:
                    smap.resolve(pid)
            with ProcessPoolExecutor(max_workers=cfg.workers, initializer=_init_worker,
                                     initargs=(cfg, smap.as_dict())) as ex:
                for res in ex.map(_work, jobs, chunksize=8):
                    collect(res)
                    bar.update(1)
    finally:
        bar.close()
        if smap.dirty or not subjects_csv.exists():
            subjects_csv.parent.mkdir(parents=True, exist_ok=True)
            smap.save_csv(subjects_csv)
    summary.subjects = len(smap)
    summary.new_subjects = len(smap) - before
    return summary


def format_summary(s: BatchSummary) -> str:
    lines = [
        f"files: {s.files}  de-identified: {s.ok}  failed: {s.failed}  pixel-masked: {s.masked_files}",
        f"subjects: {s.subjects} ({s.new_subjects} new)  subject map: {s.subjects_csv}",
    ]
    if s.counts:
        lines.append("actions: " + ", ".join(f"{k}={v}" for k, v in sorted(s.counts.items())))
    if s.errors:
        lines.append(f"errors ({len(s.errors)}):")
        lines.extend(f"  {path}: {reason}" for path, reason in s.errors)
    if s.warnings:
        lines.append(f"warnings ({len(s.warnings)}):")
        lines.extend(f"  {path}: {msg}" for path, msg in s.warnings[:200])
        if len(s.warnings) > 200:
            lines.append(f"  ... {len(s.warnings) - 200} more")
    return "\n".join(lines)
