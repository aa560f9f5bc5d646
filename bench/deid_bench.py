#!/usr/bin/env python
"""De-identification throughput bench (standalone: no Django).

Builds a corpus of N files from pydicom's bundled samples -- CT_small.dcm (39 KB) and
a 512x512 CT synthesized from it -- two small files for each large one, each with its
own PatientID (one patient per 20 files), UIDs and dates, then measures files/s of

  (a) plain pydicom ``dcmread`` + ``save_as``            (the floor we compare with)
  (b) curation.deid ``Deidentifier.deidentify_file``   (TCIA default profile)
  (d) dicognito ``Anonymizer().anonymize`` + save_as   (if installed: pip install dicognito)

Each tool reads every file from disk and writes every output to disk, one process.
Tools are interleaved chunk by chunk (a, b, d on files 0-99, then on 100-199, ...) and the
median of ``--repeat`` runs is reported, as wall-clock and as process CPU time, because the
shared 2-vCPU machines are noisy.

    .venv/bin/python bench/deid_bench.py                 # N=2000, repeat 3
    .venv/bin/python bench/deid_bench.py -n 300 --repeat 1
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.deid import Deidentifier, Profile, SubjectMap  # noqa: E402


def build_corpus(dst: Path, n: int) -> list:
    src = get_testdata_file("CT_small.dcm", download=False)
    small = pydicom.dcmread(src)
    large = pydicom.dcmread(src)
    rng = np.random.default_rng(0)
    arr = rng.integers(-1000, 2000, size=(512, 512), dtype=np.int16)
    arr[: small.Rows, : small.Columns] = small.pixel_array
    large.Rows = large.Columns = 512
    large.PixelData = arr.tobytes()
    dst.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        ds = large if i % 3 == 2 else small
        pat = i // 20
        ds.PatientID = f"PAT{pat:05d}"
        ds.PatientName = f"Doe^John{pat}"
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{pat}.1"
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{pat}.1.{i % 3}"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{pat}.1.{i % 3}.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = f"2004{1 + pat % 12:02d}{1 + i % 28:02d}"
        p = dst / f"{pat:05d}" / f"{i:06d}.dcm"
        p.parent.mkdir(exist_ok=True)
        ds.save_as(p)
        files.append(p)
    return files


def run_plain(files, out: Path, base: int = 0):
    for i, f in enumerate(files, base):
        ds = pydicom.dcmread(f)
        ds.save_as(out / f"{i}.dcm")


def make_engine_runner():
    engine = Deidentifier(profile=Profile.tcia_default(), uid_root="1.3.6.1.4.1.14519.5.2.1.9999",
                          secret=b"bench-secret", subjects=SubjectMap(prefix="BENCH", seed=1))

    def run(files, out: Path, base: int = 0):
        for i, f in enumerate(files, base):
            res = engine.deidentify_file(f, out / f"{i}.dcm")
            if res.errors:
                raise RuntimeError(res.errors)
    return run


def make_dicognito_runner():
    try:
        from dicognito.anonymizer import Anonymizer
    except ImportError:
        return None
    anon = Anonymizer(seed="bench")

    def run(files, out: Path, base: int = 0):
        for i, f in enumerate(files, base):
            ds = pydicom.dcmread(f)
            anon.anonymize(ds)
            ds.save_as(out / f"{i}.dcm")
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="number of files (default 2000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the corpus here (default: temp dir)")
    ap.add_argument("--no-dicognito", action="store_true")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="deid-bench-")) if args.workdir is None else args.workdir
    try:
        corpus = tmp / "corpus"
        t0 = time.perf_counter()
        files = build_corpus(corpus, args.n)
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"corpus: {len(files)} files, {mb:.1f} MB in {time.perf_counter() - t0:.1f} s ({corpus})")
        runners = {"a plain read+write": run_plain, "b curation.deid": make_engine_runner()}
        d = None if args.no_dicognito else make_dicognito_runner()
        if d is not None:
            runners["d dicognito"] = d
        else:
            print("dicognito not installed (pip install dicognito): (d) skipped")
        # warm-up on a few files (imports, caches, decoders)
        for name, fn in runners.items():
            out = tmp / "warm"
            out.mkdir(exist_ok=True)
            fn(files[:20], out)
        # interleave tools chunk by chunk so that load from other processes hits all alike
        chunk = max(10, len(files) // 20)
        wall: dict = {k: [] for k in runners}
        cpu: dict = {k: [] for k in runners}
        for r in range(args.repeat):
            w = dict.fromkeys(runners, 0.0)
            c = dict.fromkeys(runners, 0.0)
            for name in runners:
                out = tmp / f"out-{name[0]}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
            for start in range(0, len(files), chunk):
                part = files[start:start + chunk]
                for name, fn in runners.items():
                    t, p = time.perf_counter(), time.process_time()
                    fn(part, tmp / f"out-{name[0]}", start)
                    w[name] += time.perf_counter() - t
                    c[name] += time.process_time() - p
            for name in runners:
                wall[name].append(w[name])
                cpu[name].append(c[name])
        rate, crate = {}, {}
        print(f"\n{'tool':22} {'wall s':>7} {'files/s':>8} {'MB/s':>6} {'cpu s':>7} {'files/cpu-s':>11}   wall runs")
        for name in runners:
            med, cmed = statistics.median(wall[name]), statistics.median(cpu[name])
            rate[name], crate[name] = len(files) / med, len(files) / cmed
            print(f"{name:22} {med:7.2f} {rate[name]:8.1f} {mb / med:6.1f} {cmed:7.2f} {crate[name]:11.1f}   "
                  + " ".join(f"{t:.2f}" for t in wall[name]))
        a, b = "a plain read+write", "b curation.deid"
        print(f"\nb/a = {rate[b] / rate[a]:.2f} wall, {crate[b] / crate[a]:.2f} cpu  (goal >= 0.8)")
        if "d dicognito" in rate:
            d = "d dicognito"
            print(f"b/d = {rate[b] / rate[d]:.2f} wall, {crate[b] / crate[d]:.2f} cpu  (goal >= 2.5)")
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
