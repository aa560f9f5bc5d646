"""Benchmark of the dciodvfy check (issue #17): every file instead of one per series, several
dciodvfy processes at once, and the cache by file content.

    .venv/bin/python bench/dciodvfy.py            # BENCH_SERIES=10 BENCH_PER_SERIES=30 (300 files)

A fresh SQLite database and storage folder in a temporary directory; synthetic CT series taken
by intake. Each line times `check_dciodvfy` over the same collection, in this run:

1. one file per series, one process (the old default: the baseline of the sampling ratio);
2. every file, one process;
3. every file, TCIA_CHECKS_DCIODVFY_WORKERS = CPU count;
4. every file again with the cache filled (no dciodvfy at all).
"""
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="tcia-dciodvfy-bench-")
os.environ.update({"DJANGO_SECRET_KEY": "bench-only-secret-key", "DJANGO_DEBUG": "0", "TCIA_LOG_LEVEL": "WARNING",
                   "TCIA_VAR_DIR": TMP, "TCIA_STORAGE_ROOT": os.path.join(TMP, "storage"), "TCIA_Q_SYNC": "0",
                   "DJANGO_SETTINGS_MODULE": "tcia.settings"})
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import override_settings  # noqa: E402

SERIES = int(os.environ.get("BENCH_SERIES", "10"))
PER_SERIES = int(os.environ.get("BENCH_PER_SERIES", "30"))


def main():
    from curation.checks import engine
    from curation.checks.models import DciodvfyResult
    from tests.checks.builders import ingest, make_submission, series

    call_command("migrate", "--noinput", "-v0")
    submission = make_submission(slug="bench-dciodvfy", prefix="BDV")
    files = []
    for s in range(SERIES):
        files += [d for d, _ in series(f"PAT-{s % 3}", f"st{s % 3}", f"se{s}", images=PER_SERIES, series_number=s + 1)]
    ingest(submission, files)
    ctx = engine.Context(submission.collection)
    n_files = len(ctx.images)
    cpus = os.cpu_count() or 2

    def timed(sample, workers, keep_cache=False):
        if not keep_cache:
            DciodvfyResult.objects.all().delete()
        with override_settings(TCIA_CHECKS_DCIODVFY_WORKERS=workers):
            start = time.perf_counter()
            found = engine.check_dciodvfy(ctx, sample=sample)
            return time.perf_counter() - start, len(found)

    sample_t, _ = timed("one_per_series", 1)
    serial_t, found = timed("all", 1)
    parallel_t, _ = timed("all", cpus)
    cached_t, cached_found = timed("all", cpus, keep_cache=True)
    assert cached_found == found
    print(f"dciodvfy check over {n_files} files in {SERIES} series ({cpus} CPUs)")
    print(f"  one file per series, 1 process : {sample_t:7.2f} s  ({SERIES} files, {SERIES / sample_t:6.1f} files/s)")
    print(f"  every file, 1 process          : {serial_t:7.2f} s  ({n_files / serial_t:6.1f} files/s; "
          f"{serial_t / sample_t:.1f}x the sample's time for {n_files / SERIES:.0f}x the files)")
    print(f"  every file, {cpus} processes        : {parallel_t:7.2f} s  ({n_files / parallel_t:6.1f} files/s; "
          f"{serial_t / parallel_t:.2f}x faster than 1 process)")
    print(f"  every file, cached             : {cached_t:7.2f} s  ({serial_t / cached_t:.0f}x faster than 1 process)")


if __name__ == "__main__":
    main()
