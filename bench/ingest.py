#!/usr/bin/env python
"""Full-ingest throughput, against plain pydicom and the de-identification engine alone.

Writes a corpus of N files (curation.dicom.synth.write_corpus: half 39 KB CT, half 512 x 512 CT,
20 patients), then in one process measures files/s of

  (a) plain pydicom dcmread + save_as to memory                 (the floor)
  (b) the de-identification engine alone, bytes in, bytes out   (TCIA profile)
  (c) full intake: parse, de-identify, store content-addressed, index in the database,
      PHI/pixel-hash/render hooks that the apps registered      (curation.services.intake.Intake),
      and the end of the batch (batch-end hooks: the PHI report counts what is pending);
      tasks those hooks enqueue (thumbnails, OCR) are queued, not run

(c) runs on the database DATABASE_URL names (SQLite by default), in a fresh test database.
Files are read into memory first, so no phase pays for the disk read.

    .venv/bin/python bench/ingest.py -n 2000
    DATABASE_URL=postgresql://tcia:tcia@127.0.0.1/tcia_bench .venv/bin/python bench/ingest.py -n 2000
    .venv/bin/python bench/ingest.py -n 2000 --no-hooks   # (c) without the apps' ingest hooks
    .venv/bin/python bench/ingest.py -n 200 --only-hook phi --alternate 5
        # then (c) 5 times each without hooks / with a no-op hook / with the PHI hook, alternating:
        # the overhead in one process, less exposed to a noisy machine
"""
import argparse
import atexit
import io
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")
# Tasks the hooks enqueue (thumbnails, OCR) go to the queue, as in production: not run here.
os.environ["TCIA_Q_SYNC"] = "0"

import django  # noqa: E402

django.setup()

import pydicom  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402

from bench import orthanc_peer  # noqa: E402
from collections_app.services import blobproc  # noqa: E402
from curation.dicom.synth import write_corpus  # noqa: E402
from curation.deid import Deidentifier, Profile, SubjectMap  # noqa: E402


def timed(fn, items, then=None):
    """(wall, CPU) seconds for fn over items, and then() after them (intake's end of batch). CPU
    counts this process and intake's blob writer process (collections_app.services.blobproc)."""
    wall, cpu = time.perf_counter(), time.process_time() + blobproc.cpu_seconds()
    for item in items:
        fn(item)
    if then is not None:
        then()
    return time.perf_counter() - wall, time.process_time() + blobproc.cpu_seconds() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=200, help="files per chunk for (c) (Intake.take_many)")
    parser.add_argument("--skip-single", action="store_true", help="leave out (c1): intake one file at a time")
    parser.add_argument("--no-orthanc", action="store_true", help="leave out (o): Orthanc storing the files over REST")
    parser.add_argument("--no-hooks", action="store_true", help="unregister the apps' ingest hooks for (c)")
    parser.add_argument("--only-hook", help="keep only the ingest hook whose module contains this text")
    parser.add_argument("--hook-times", action="store_true", help="report the time spent inside each hook during (c)")
    parser.add_argument("--phases", action="store_true",
                        help="report the wall time (c) spends in each step of intake, ms per file")
    parser.add_argument("--rounds", type=int, default=3, metavar="R",
                        help="(o) and (c) measured R times, alternating (a new Orthanc and a new collection each"
                             " round): c/o is the median of the rounds' ratios, less exposed to a machine whose"
                             " speed drifts (default 3; the first round is the one the other figures describe)")
    parser.add_argument("--alternate", type=int, default=0, metavar="R",
                        help="then R rounds each of (c) without hooks, with a no-op hook and with the hooks, alternating")
    parser.add_argument("--sql", action="store_true",
                        help="report the wall time of (c)'s statements by kind and table, ms per file (the"
                             " driver's parameter adaptation and the server's round trip)")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="run (c) under cProfile and print its K functions of most own time (slows (c))")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    atexit.register(shutil.rmtree, folder, True)  # the corpus goes when the bench ends
    print(f"writing {args.n} files to {folder} …", flush=True)
    paths = write_corpus(folder, args.n)
    blobs = [(p.name, p.read_bytes()) for p in paths]
    total_mb = sum(len(b) for _, b in blobs) / 1e6
    print(f"corpus: {len(blobs)} files, {total_mb:.0f} MB")

    def plain(item):
        ds = pydicom.dcmread(io.BytesIO(item[1]))
        ds.save_as(io.BytesIO(), enforce_file_format=True)

    engine = Deidentifier(profile=Profile.tcia_default(), secret=b"bench", subjects=SubjectMap(prefix="BENCH", seed=1))

    def deid(item):
        result = engine.deidentify_file(item[1], io.BytesIO())
        assert result.ok, result.errors

    from django.db import connection

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        from collections_app.models import Collection, Image
        from curation import hooks
        from curation.models import IntakeBatch
        from curation.services.intake import Intake, start_batch
        from curation.services.submissions import create_submission

        if args.no_hooks:
            hooks._INGEST_HOOKS.clear()
        elif args.only_hook:
            hooks._INGEST_HOOKS[:] = [h for h in hooks._INGEST_HOOKS if args.only_hook in h.__module__]
        hook_time = {}
        if args.hook_times:
            wrapped = []
            for h in hooks._INGEST_HOOKS:
                w = _timed_hook(h, hook_time)
                if h in hooks._MANY:
                    hooks._MANY[w] = _timed_hook(hooks._MANY[h], hook_time)
                wrapped.append(w)
            hooks._INGEST_HOOKS[:] = wrapped
            hooks._BATCH_END_HOOKS[:] = [_timed_hook(h, hook_time, " (batch end)") for h in hooks._BATCH_END_HOOKS]
        collection = Collection.objects.create(slug="bench", title="Bench", short_name="Bench", subject_prefix="BENCH")
        submission = create_submission(collection=collection)
        batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, total=len(blobs))
        intake = Intake(submission, batch)

        def full(item):
            taken = intake.take(item[1], item[0])
            assert taken.outcome == "accepted", (taken.outcome, taken.reason)

        def chunk_taker(taker):
            def take_chunk(chunk):
                taken = taker.take_many([(data, name, None) for name, data in chunk])
                assert all(t.outcome == "accepted" for t in taken), [(t.outcome, t.reason) for t in taken][:3]
            return take_chunk

        chunks = [blobs[i:i + args.chunk] for i in range(0, len(blobs), args.chunk)]
        collection_c = Collection.objects.create(slug="bench-c", title="Bench C", short_name="BenchC", subject_prefix="BENCHC")
        submission_c = create_submission(collection=collection_c)
        intake_c = Intake(submission_c, start_batch(submission=submission_c, source=IntakeBatch.Source.CLI))
        full_chunk = chunk_taker(intake_c)
        phase_time = _time_phases(intake_c) if args.phases else None

        results = {}
        sql_time: dict = {}
        server_cpu = None
        orthanc_label = None
        if not args.no_orthanc and orthanc_peer.available():
            with orthanc_peer.Orthanc() as peer:
                orthanc_label = f"(o) Orthanc {peer.version()} REST"
                results[orthanc_label] = timed(lambda item: peer.store(item[1]), blobs)
                assert peer.count() == len(blobs)
        for label, fn, items, then in (("(a) pydicom read+write", plain, blobs, None), ("(b) de-identify", deid, blobs, None),
                                       ("(c) full ingest", full_chunk, chunks, intake_c.finish),
                                       ("(c1) one file at a time", full, blobs, intake.finish)):
            if label.startswith("(c1)") and args.skip_single:
                continue
            before = backend_cpu(connection) if label.startswith("(c)") else None
            profiler = None
            if args.profile and label.startswith("(c) "):
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            if args.sql and label.startswith("(c) "):
                with connection.execute_wrapper(_SqlTimer(sql_time)):
                    results[label] = timed(fn, items, then)
            else:
                results[label] = timed(fn, items, then)
            if profiler is not None:
                import pstats

                profiler.disable()
                print(f"(c) under cProfile, {args.profile} functions of most own time:")
                stats = pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime"))
                stats.print_stats(args.profile)
                if os.environ.get("BENCH_PROFILE_CALLEES"):  # e.g. BENCH_PROFILE_CALLEES=_flush_some
                    stats.sort_stats("cumulative").print_callees(os.environ["BENCH_PROFILE_CALLEES"])
                if os.environ.get("BENCH_PROFILE_CALLERS"):  # e.g. BENCH_PROFILE_CALLERS="tag.py:173"
                    stats.sort_stats("cumulative").print_callers(os.environ["BENCH_PROFILE_CALLERS"])
            if before is not None:
                server_cpu = backend_cpu(connection) - before
        assert Image.objects.filter(collection=collection_c).count() == len(blobs)
        hook_time = dict(hook_time)  # (c) only: the rounds below run the same (timed) hooks again
        rounds = []  # (Orthanc wall or None, (a) wall, (c) wall) of each round
        rounds.append((results[orthanc_label][0] if orthanc_label else None, results["(a) pydicom read+write"][0],
                       results["(c) full ingest"][0]))
        for r in range(2, args.rounds + 1):
            o_wall = None
            if orthanc_label:
                with orthanc_peer.Orthanc() as peer:
                    o_wall = timed(lambda item: peer.store(item[1]), blobs)[0]
                    assert peer.count() == len(blobs)
            a_wall = timed(plain, blobs)[0]
            coll = Collection.objects.create(slug=f"bench-r{r}", title=f"Bench R{r}", short_name=f"BenchR{r}",
                                             subject_prefix=f"BENCHR{r}")
            sub = create_submission(collection=coll)
            taker = Intake(sub, start_batch(submission=sub, source=IntakeBatch.Source.CLI))
            c_wall = timed(chunk_taker(taker), chunks, taker.finish)[0]
            assert Image.objects.filter(collection=coll).count() == len(blobs)
            rounds.append((o_wall, a_wall, c_wall))
        if args.alternate:
            alternate = alternate_rounds(args.alternate, blobs, list(hooks._INGEST_HOOKS))
        vendor = connection.vendor
        hooks_used = [h.__module__ + "." + h.__name__ for h in hooks._INGEST_HOOKS]
    finally:
        teardown_databases(old_config, verbosity=0)

    print(f"database: {vendor}; ingest hooks: {', '.join(hooks_used) or 'none'}")
    print(f"{'phase':<26}{'files/s':>10}{'MB/s':>8}{'files/CPU-s':>13}")
    for label, (wall, cpu) in results.items():
        print(f"{label:<26}{len(blobs) / wall:>10.1f}{total_mb / wall:>8.1f}{len(blobs) / cpu:>13.1f}")
    a, b, c = (results[k] for k in ("(a) pydicom read+write", "(b) de-identify", "(c) full ingest"))
    print(f"ratios (wall): b/a = {a[0] / b[0]:.2f}   c/b = {b[0] / c[0]:.2f}   c/a = {a[0] / c[0]:.2f}")
    print(f"ratios (CPU):  b/a = {a[1] / b[1]:.2f}   c/b = {b[1] / c[1]:.2f}   c/a = {a[1] / c[1]:.2f}")
    if server_cpu is not None:
        n = len(blobs)
        print(f"CPU per file in (c): Python {c[1] / n * 1000:.2f} ms (with the blob writer process), "
              f"PostgreSQL server {server_cpu / n * 1000:.2f} ms "
              f"(wall {c[0] / n * 1000:.2f} ms)")
    if orthanc_label:
        o = results[orthanc_label]
        print(f"full ingest vs Orthanc (files/s, wall): c/o = {o[0] / c[0]:.2f}   (Orthanc vs plain: o/a = {a[0] / o[0]:.2f};"
              " Orthanc's CPU is in its own process, so files/CPU-s above counts only our client for (o))")

    if len(rounds) > 1:
        n = len(blobs)
        print(f"(o), (a) and (c) in {len(rounds)} alternating rounds, files/s: " + "; ".join(
            (f"o {n / ow:.1f} " if ow else "") + f"a {n / aw:.1f} c {n / cw:.1f}" for ow, aw, cw in rounds))
    if rounds and rounds[0][0] is not None:
        ratios = sorted(ow / cw for ow, _aw, cw in rounds)
        print(f"goal c/o >= 1.0 (full ingest on PostgreSQL vs Orthanc), on {vendor}: c/o = {ratios[(len(ratios) - 1) // 2]:.2f}"
              f", the median of {len(ratios)} round(s) ({', '.join(f'{r:.2f}' for r in ratios)})")
    ratios = sorted(aw / cw for _ow, aw, cw in rounds)
    print(f"goal c/a >= 0.6 (full ingest on SQLite vs plain read+write), on {vendor}: c/a = {ratios[(len(ratios) - 1) // 2]:.2f}"
          f", the median of {len(ratios)} round(s) ({', '.join(f'{r:.2f}' for r in ratios)})")
    if args.hook_times:
        print("time inside each hook during (c), ms per file: "
              + ", ".join(f"{name} {t / len(blobs) * 1000:.2f}" for name, t in hook_time.items()))
    if phase_time is not None:
        total = results["(c) full ingest"][0]
        print("wall time of (c) by step, ms per file (main thread; the rest is the chunk's own statements):")
        for name, t in phase_time.items():
            print(f"  {name:<44}{t / len(blobs) * 1000:>8.2f}")
        print(f"  {'(c) in all':<44}{total / len(blobs) * 1000:>8.2f}")
    if args.sql:
        n = len(blobs)
        print(f"statements of (c) by kind and table, ms per file (calls per file), "
              f"{sum(t for t, _ in sql_time.values()) / n * 1000:.2f} in all:")
        for key, (t, calls) in sorted(sql_time.items(), key=lambda kv: -kv[1][0])[:20]:
            print(f"  {key:<60}{t / n * 1000:>8.3f}  ({calls / n:.3f})")
    if args.alternate:
        print(f"(c) in {args.alternate} alternating rounds per variant, new collection each round; median ms per file:")
        base_wall, base_cpu = alternate["no hooks"]
        for label, (wall, cpu) in alternate.items():
            print(f"  {label:<44}{wall:>8.2f} wall {(wall / base_wall - 1) * 100:>+7.1f} %"
                  f"{cpu:>9.2f} CPU {(cpu / base_cpu - 1) * 100:>+7.1f} %")


def backend_cpu(connection) -> float | None:
    """CPU seconds used so far by the PostgreSQL server process serving `connection` (it runs on
    this machine: /proc/<pid>/stat), or None on SQLite (the database runs inside our process)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _SqlTimer:
    """An execute wrapper: the wall time of each statement by its verb and first table."""

    TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.I)

    def __init__(self, totals):
        self.totals = totals

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - start
            verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
            m = self.TABLE.search(sql)
            key = f"{verb} {m.group(1) if m else ''}"
            t, calls = self.totals.get(key, (0.0, 0))
            self.totals[key] = (t + elapsed, calls + 1)


def _time_phases(intake) -> dict:
    """Wrap the steps intake takes for each file and chunk with timers (wall, this thread)."""
    from bench.timing import timed as timer
    from curation import hooks
    from curation.services import intake as intake_mod

    totals: dict = {}

    def timed(name, fn):
        return timer(fn, totals, name)

    intake_mod.read_dicom = timed("parse (read_dicom)", intake_mod.read_dicom)
    hooks.observe_original = timed("original observers (self-score)", hooks.observe_original)
    engine = intake.engine
    engine.deidentify_dataset = timed("de-identify (with the element report)", engine.deidentify_dataset)
    intake_mod.encode_dicom = timed("encode the clean file", intake_mod.encode_dicom)
    intake._written = timed("waiting for the blob writer", intake._written)
    intake_mod.store_many = timed("stored files", intake_mod.store_many)
    intake_mod.index_many = timed("index rows", intake_mod.index_many)
    hooks.run_ingest_hooks_many = timed("ingest hooks", hooks.run_ingest_hooks_many)
    items = intake_mod.IntakeItem.objects
    items.bulk_create = timed("intake items", items.bulk_create)
    intake._file_many = timed("chunk transaction (all of the above + items)", intake._file_many)
    intake.take_many = timed("take_many", intake.take_many)
    intake.finish = timed("finish (batch-end hooks, stats)", intake.finish)
    return totals


def _timed_hook(hook, totals, suffix=""):
    """The hook, with the wall time spent inside it added to totals[its module + suffix]."""
    from bench.timing import timed

    return timed(hook, totals, hook.__module__ + suffix)


def _noop_hook(**kwargs):
    """Registered alone, it measures what intake does for any hook: collect the elements."""


def alternate_rounds(rounds, blobs, selected):
    """Median (wall, CPU) ms per file of full ingest without hooks, with only a no-op hook (the
    element collection intake does whenever a hook is registered) and with the selected hooks,
    in alternating order, each round into a new collection."""
    import statistics

    from collections_app.models import Collection
    from curation import hooks
    from curation.models import IntakeBatch
    from curation.services.intake import Intake, start_batch
    from curation.services.submissions import create_submission

    names = ", ".join(h.__module__.rsplit(".", 1)[0].rsplit(".", 1)[-1] for h in selected) or "none"
    variants = [("no hooks", []), ("no-op hook (element collection only)", [_noop_hook]),
                (f"hooks: {names}", selected)]
    times = {label: [] for label, _ in variants}
    saved = list(hooks._INGEST_HOOKS)
    saved_batch = list(hooks._BATCH_END_HOOKS)
    n = 0
    try:
        for r in range(rounds):
            for label, registered in (variants if r % 2 == 0 else variants[::-1]):
                n += 1
                hooks._INGEST_HOOKS[:] = registered
                modules = {h.__module__ for h in registered}  # batch-end hooks of the registered apps only
                hooks._BATCH_END_HOOKS[:] = [h for h in saved_batch if h.__module__ in modules]
                collection = Collection.objects.create(slug=f"alt-{n}", title=f"Alt {n}", short_name=f"Alt{n}",
                                                       subject_prefix=f"ALT{n}")
                submission = create_submission(collection=collection)
                batch = start_batch(submission=submission, source=IntakeBatch.Source.CLI, total=len(blobs))
                intake = Intake(submission, batch)

                def take(item, intake=intake):
                    taken = intake.take(item[1], item[0])
                    assert taken.outcome == "accepted", (taken.outcome, taken.reason)

                wall, cpu = timed(take, blobs, intake.finish)  # finish: batch-end hooks (PHI flush)
                times[label].append((wall / len(blobs) * 1000, cpu / len(blobs) * 1000))
    finally:
        hooks._INGEST_HOOKS[:] = saved
        hooks._BATCH_END_HOOKS[:] = saved_batch
    return {label: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for label, t in times.items()}


if __name__ == "__main__":
    main()
