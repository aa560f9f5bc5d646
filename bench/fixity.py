#!/usr/bin/env python
"""Re-hash throughput of the fixity audit against coreutils' `sha256sum` of the same files, in one run.

    .venv/bin/python bench/fixity.py [--files 400] [--mib 2] [--large 4] [--rounds 3]

An archive folder (a temporary STORAGE_ROOT) gets FILES files of MIB MiB plus LARGE files of
64 MiB, random bytes, under their content addresses. Then, alternately for ROUNDS rounds (both
with the files in the page cache after the first read, so the disk is not what is measured):

  (s) `sha256sum` of every file (one process per 500 paths), wall time;
  (f) fixity.services.hash_file of every file through the archive storage (what each run does
      per file, without the database), wall time.

Prints MB/s of each (best round) and the ratio f/s (goal >= 0.8).
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--mib", type=float, default=2)
    parser.add_argument("--large", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="tcia-fixity-bench-")
    os.environ.update(TCIA_STORAGE_ROOT=root, DJANGO_SETTINGS_MODULE="tcia.settings_test")
    import django

    django.setup()
    from django.core.files.storage import storages

    from collections_app.services.storage import storage_name_for
    from fixity.services import hash_file

    storage = storages["archive"]
    sizes = [int(args.mib * 1024 * 1024)] * args.files + [64 * 1024 * 1024] * args.large
    files = []
    for i, size in enumerate(sizes):
        data = os.urandom(size)
        sha = hashlib.sha256(data).hexdigest()
        name = storage_name_for(sha)
        path = Path(storage.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append((name, sha, size, str(path)))
    total = sum(sizes)
    print(f"{len(files)} files, {total / 1e6:.0f} MB in {root}")

    def run_sha256sum():
        out = []
        for i in range(0, len(files), 500):
            res = subprocess.run(["sha256sum", *[f[3] for f in files[i:i + 500]]], capture_output=True, check=True, text=True)
            out += [line.split()[0] for line in res.stdout.splitlines()]
        assert out == [f[1] for f in files]

    def run_fixity():
        for name, sha, size, _path in files:
            got, n = hash_file("archive", name)
            assert got == sha and n == size

    best = {"sha256sum": float("inf"), "fixity": float("inf")}
    for _ in range(args.rounds):
        for label, fn in (("sha256sum", run_sha256sum), ("fixity", run_fixity)):
            t0 = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - t0)
    for label, seconds in best.items():
        print(f"{label:10s} {seconds:7.3f} s  {total / seconds / 1e6:8.0f} MB/s")
    print(f"fixity / sha256sum throughput: {best['sha256sum'] / best['fixity']:.2f}x (goal >= 0.8)")
    import shutil

    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
