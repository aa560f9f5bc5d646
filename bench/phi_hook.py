#!/usr/bin/env python
"""What intake pays per file for the PHI report, piece by piece, against its baselines in the same process.

1. The element report that hands every value to the ingest hooks, after de-identification:
   values decoded from the raw bytes (curation.deid.rawvalue, what intake does) against
   pydicom converting every element (`ds[tag]`, what it did before), and the time of the
   write that follows each (converted elements are re-encoded).
2. Aggregating a batch of pending files in report.flush (`_aggregate`): with the cyclic
   garbage collector paused (what flush does) and left running.

No database. Corpus: curation.dicom.synth.write_corpus (half 39 KB CT, half 512 x 512 CT).

    .venv/bin/python bench/phi_hook.py -n 200 --repeat 3
"""
import argparse
import gc
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")

import django  # noqa: E402

django.setup()

from curation.deid import Deidentifier, Profile, SubjectMap  # noqa: E402
from curation.deid.engine import BULK_TAGS, read_dicom, write_dicom  # noqa: E402
from curation.dicom.synth import write_corpus  # noqa: E402
from curation.phi import report  # noqa: E402


def converted_report(ds, hook):
    """The baseline: every element converted by pydicom (and kept converted), as before rawvalue."""
    def walk(ds, prefix):
        d = ds._dict
        for tag in sorted(d):
            if tag in BULK_TAGS:
                hook(f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})", d[tag].VR or "OW", None)
                continue
            e = ds[tag]
            p = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
            if e.VR == "SQ":
                for i, item in enumerate(e.value):
                    walk(item, f"{p}[{i}]")
                continue
            v = e.value
            hook(p, e.VR, None if isinstance(v, (bytes, bytearray)) and len(v) > 1024 else v)

    fm = getattr(ds, "file_meta", None)
    if fm is not None:
        walk(fm, "")
    walk(ds, "")


def time_report(blobs, engine, walk):
    """ms per file: (report walk, write after it)."""
    t_report = t_write = 0.0
    for data in blobs:
        ds = read_dicom(data)
        engine.deidentify_dataset(ds)
        out = []
        t0 = time.perf_counter()
        walk(ds, lambda p, vr, v: out.append((p, vr, v)))
        t1 = time.perf_counter()
        write_dicom(ds, io.BytesIO())
        t2 = time.perf_counter()
        t_report += t1 - t0
        t_write += t2 - t1
    return t_report / len(blobs) * 1000, t_write / len(blobs) * 1000


def pending_rows(blobs, engine):
    rows = []
    for i, data in enumerate(blobs):
        ds = read_dicom(data)
        engine.deidentify_dataset(ds)
        payload = zlib.compress(json.dumps(report._texts(Deidentifier.elements(ds)), separators=(",", ":")).encode(), 1)
        rows.append((i, i, i % 8, i, payload, ""))
    return rows


def time_aggregate(rows, pause_gc):
    disable = gc.disable
    if not pause_gc:
        gc.disable = lambda: None  # _aggregate pauses the collector through gc.disable
    try:
        start = time.perf_counter()
        report._aggregate(rows, set())
        return (time.perf_counter() - start) / len(rows) * 1000
    finally:
        gc.disable = disable
        gc.enable()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = write_corpus(Path(tempfile.mkdtemp(prefix="bench-phi-hook-")), args.n)
    blobs = [p.read_bytes() for p in paths]
    engine = Deidentifier(profile=Profile.tcia_default(), secret=b"bench", subjects=SubjectMap(prefix="BENCH", seed=1))
    print(f"corpus: {len(blobs)} files; medians of {args.repeat} alternating runs, ms per file")

    results = {"raw": [], "converted": []}
    for r in range(args.repeat):
        order = (("raw", Deidentifier.report), ("converted", converted_report))
        for label, walk in (order if r % 2 == 0 else order[::-1]):
            results[label].append(time_report(blobs, engine, walk))
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    print(f"element report, pydicom converts every element: report {med['converted'][0]:.3f}  write after it {med['converted'][1]:.3f}")
    print(f"element report, values from the raw bytes:      report {med['raw'][0]:.3f}  write after it {med['raw'][1]:.3f}")
    print(f"  ratio (converted / raw): report {med['converted'][0] / med['raw'][0]:.2f}x, "
          f"report + write {sum(med['converted']) / sum(med['raw']):.2f}x")

    rows = pending_rows(blobs, engine)
    agg = {"paused": [], "running": []}
    for r in range(args.repeat):
        for label in (("paused", "running") if r % 2 == 0 else ("running", "paused")):
            agg[label].append(time_aggregate(rows, label == "paused"))
    paused, running = statistics.median(agg["paused"]), statistics.median(agg["running"])
    size = statistics.median(len(r[4]) for r in rows)
    print(f"flush aggregation of {len(rows)} pending files (payload median {size:.0f} bytes): "
          f"GC paused {paused:.3f}, GC running {running:.3f}  ratio {running / paused:.2f}x")


if __name__ == "__main__":
    main()
