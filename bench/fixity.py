#!/usr/bin/env python
"""Re-hash throughput of the fixity audit against coreutils' `sha256sum` of the same files, in one run.

    .venv/bin/python bench/fixity.py [--files 400] [--mib 2] [--large 4] [--rounds 3]

An archive folder (a temporary STORAGE_ROOT) gets FILES files of MIB MiB plus LARGE files of
64 MiB, random bytes, under their content addresses. Then, alternately for ROUNDS rounds (both
with the files in the page cache after the first read, so the disk is not what is measured):

  (s) `sha256sum` of every file (one process per 500 paths), wall time;
  (f) fixity.services.hash_file of every file through the archive storage (what each run does
      per file, without the database), wall time;
  (r) a whole audit run (fixity.services.run_audit, no rate limit) over the same files as
      StoredFile rows in a fresh SQLite database, every file due again (verified a cycle ago):
      selection, hashing, the updates and the run's record, wall time. The first run, which also
      registers every file in the audit (once in a file's life), is printed apart.

Prints MB/s of each (best round) and the ratios f/s and r/s (goal >= 0.8).
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
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{root}/bench.sqlite3")
    import django

    django.setup()
    from django.core.files.storage import storages
    from django.core.management import call_command

    from collections_app.models import StoredFile
    from collections_app.services.storage import storage_name_for
    from fixity.models import FixityRecord, FixityRun
    from fixity.services import hash_file, run_audit

    if os.environ["DATABASE_URL"].startswith("postgres"):
        raise SystemExit("Give a SQLite DATABASE_URL (or none): this script migrates and fills the database.")
    call_command("migrate", verbosity=0)

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
    StoredFile.objects.bulk_create([StoredFile(sha256=sha, size=size, crc32=0, md5="", storage_name=name)
                                    for name, sha, size, _p in files])
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

    def run_whole():
        run = run_audit(trigger="bench", max_seconds=0, rate=0).run
        assert run.files_checked == len(files) and run.failures == 0 and run.bytes_checked == total
        FixityRun.objects.all().delete()
        FixityRecord.objects.update(last_verified_at=timezone.now() - timedelta(days=10 * 365))  # due again

    from datetime import timedelta

    from django.utils import timezone

    t0 = time.perf_counter()
    run_whole()
    first = time.perf_counter() - t0

    best = {"sha256sum": float("inf"), "fixity": float("inf"), "run": float("inf")}
    for _ in range(args.rounds):
        for label, fn in (("sha256sum", run_sha256sum), ("fixity", run_fixity), ("run", run_whole)):
            t0 = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - t0)
    for label, seconds in best.items():
        print(f"{label:10s} {seconds:7.3f} s  {total / seconds / 1e6:8.0f} MB/s")
    print(f"fixity / sha256sum throughput: {best['sha256sum'] / best['fixity']:.2f}x (goal >= 0.8)")
    print(f"first run (registers every file too): {first:.3f} s, {total / first / 1e6:.0f} MB/s")
    print(f"run    / sha256sum throughput: {best['sha256sum'] / best['run']:.2f}x (goal >= 0.8)")
    import shutil

    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
