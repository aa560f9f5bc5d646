"""Benchmark of the PHI report (PostgreSQL).

    DATABASE_URL=postgresql://tcia:tcia@127.0.0.1/tcia_h5 .venv/bin/python bench/phi_report.py
    BENCH_HOOKS=phi BENCH_ROWS=0 DATABASE_URL=… .venv/bin/python bench/phi_report.py   # PHI hook only, no page test

The `public` schema of that database is wiped and rebuilt from the models. Then:

1. Ingest overhead: the same synthetic CT files are taken by intake in alternating rounds with
   and without the ingest hooks (same process, new submission per round so every file is new).
   "Without" runs no hook at all; "with" runs the hooks whose module names contain one of
   BENCH_HOOKS (default checks,phi,review: all three; BENCH_HOOKS=phi for the PHI report
   alone). Tasks the review hook enqueues are queued (ORM broker), not run. Goal: the PHI
   report's maintenance adds at most 20 %. BENCH_HOOKS=selfscore: the de-identification
   self-score's observer and hook alone; BENCH_HOOKS=phi.report: the PHI report's alone.
2. Report page: 1,000,000 synthetic value rows are loaded with COPY into one collection, then
   the report page is fetched through the whole Django stack (test client, DEBUG off) for the
   first page, each filter and a deep keyset page. Goal: p95 < 1 s.
"""
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgresql://tcia:tcia@127.0.0.1/tcia_h5")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("TCIA_LOG_LEVEL", "WARNING")
os.environ.setdefault("TCIA_STORAGE_ROOT", tempfile.mkdtemp(prefix="tcia-phi-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings")
os.environ["TCIA_Q_SYNC"] = "0"  # tasks the review hook enqueues are queued, not run

import django  # noqa: E402

django.setup()

from pgschema import fresh_schema, log  # noqa: E402  (bench/ is on sys.path)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

N_FILES = int(os.environ.get("BENCH_FILES", "240"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
N_ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPS = int(os.environ.get("BENCH_REPS", "20"))


def corpus():
    from curation.dicom.synth import SeriesSpec, build_series

    files = []
    per_series = 20
    for s in range(N_FILES // per_series):
        spec = SeriesSpec(f"PAT{s % 6:03d}", f"Doe^P{s % 6}", f"st{s % 6}", f"se{s}", images=per_series,
                          series_number=s + 1, series_description=f"Series {s}")
        files.extend(data for _, data in build_series(spec))
    return files


HOOKS = [h.strip() for h in os.environ.get("BENCH_HOOKS", "checks,phi,review").split(",") if h.strip()]
_ALL_HOOKS = []
_ALL_BATCH_HOOKS = []
_ALL_OBSERVERS = []  # original observers (the de-identification self-score's, curation.phi.selfscore)


def ingest_round(files, n, hooks_on):
    from curation import hooks
    from tests.curation.intake_helpers import make_submission
    from curation.services.intake import Intake, start_batch

    if not _ALL_HOOKS:
        _ALL_HOOKS.extend(hooks._INGEST_HOOKS)
        _ALL_BATCH_HOOKS.extend(hooks._BATCH_END_HOOKS)
        _ALL_OBSERVERS.extend(hooks._OBSERVERS)
    # "off" runs with no hook at all; "on" with the hooks named in BENCH_HOOKS (module contains the name),
    # ingest and batch-end hooks (the PHI report counts its pending files at the end of the batch)
    hooks._INGEST_HOOKS[:] = [h for h in _ALL_HOOKS if any(name in h.__module__ for name in HOOKS)] if hooks_on else []
    hooks._BATCH_END_HOOKS[:] = [h for h in _ALL_BATCH_HOOKS if any(name in h.__module__ for name in HOOKS)] if hooks_on else []
    hooks._OBSERVERS[:] = [h for h in _ALL_OBSERVERS if any(name in h.__module__ for name in HOOKS)] if hooks_on else []
    submission = make_submission(slug=f"bench-{n}", prefix=f"B{n:03d}")
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    start = time.perf_counter()
    for i, data in enumerate(files):
        item = intake.take(data, f"{i}.dcm")
        assert item.outcome == "accepted", item.reason
    intake.finish()  # the end of the batch is part of ingest: batch-end hooks run here
    elapsed = time.perf_counter() - start
    return elapsed, submission


def bench_ingest():
    files = corpus()
    log(f"ingest: {len(files)} synthetic CT files per round, {ROUNDS} rounds each way, alternating; "
        f"hooks on = {', '.join(HOOKS)}")
    ingest_round(files[:20], 999, True)  # warm-up: caches, connections, first-time imports
    off, on = [], []
    n = 0
    for r in range(ROUNDS):
        for hooks_on in ((False, True) if r % 2 == 0 else (True, False)):
            n += 1
            elapsed, submission = ingest_round(files, n, hooks_on)
            (on if hooks_on else off).append(elapsed / len(files) * 1000)
            log(f"  round {n}: hooks {'on ' if hooks_on else 'off'} {elapsed:.2f} s = {elapsed / len(files) * 1000:.2f} ms/file")
    from curation.phi.models import PhiValue
    values = PhiValue.objects.filter(collection=submission.collection).count()
    m_off, m_on = statistics.median(off), statistics.median(on)
    overhead = (m_on - m_off) / m_off * 100
    log(f"ingest median: without hooks {m_off:.2f} ms/file, with hooks {m_on:.2f} ms/file: +{overhead:.1f} % "
        f"(goal <= 20 %); {values} unique values in the last report")
    return m_off, m_on, overhead


def load_rows(collection_id):
    from curation.phi.models import PhiFacet, PhiValue

    rng = random.Random(42)
    vrs = ["LO", "SH", "CS", "DA", "TM", "PN", "UI", "DS", "IS", "LT", "US", "AS"]
    paths = []
    for g in range(0x0008, 0x0100, 2):
        for e in range(0x10, 0x80, 8):
            paths.append(f"({g:04X},{e:04X})")
    for g in (0x0009, 0x0019, 0x0029, 0x0043):
        for b in range(0x10, 0x70):
            paths.append(f'({g:04X},"VENDOR_{g:04X}",{b:02x})')
    for i in range(200):
        paths.append(f"(0040,0275)[*](0008,{0x1100 + i:04X})")
    fields = ["collection_id", "tag_path", "vr", "value", "value_hash", "keyword", "is_private", "creator", "file_count",
              "series_count", "present", "own_uid", "likely_phi", "phi_kinds", "example_image_id", "example_path",
              "disposition", "disposition_arg"]
    facets = {}
    table = PhiValue._meta.db_table
    start = time.perf_counter()
    with connection.cursor() as cur:
        with cur.connection.cursor().copy(f"COPY {table} ({', '.join(fields)}) FROM STDIN") as copy:
            for i in range(N_ROWS):
                path = paths[i % len(paths)]
                private = '"' in path
                vr = "UN" if private else vrs[rng.randrange(len(vrs))]
                own = vr == "UI" and rng.random() < 0.8
                value = f"1.3.6.1.4.1.14519.5.2.1.9999.{i}" if own else f"value {i} {rng.randrange(10**9)}"
                likely = (not own) and (vr in ("PN", "DA") or rng.random() < 0.03)
                files = rng.randrange(1, 500)
                facets[(vr, private, likely, own)] = facets.get((vr, private, likely, own), 0) + 1
                copy.write_row((collection_id, path, vr, value, hashlib.sha1(f"{path}{vr}{value}".encode()).hexdigest(),
                                "", private, "", files, max(1, files // 50), True, own, likely,
                                "name" if vr == "PN" and likely else ("date" if likely else ""), None, path, "", ""))
    PhiFacet.objects.bulk_create([PhiFacet(collection_id=collection_id, vr=vr, is_private=p, likely_phi=li, own_uid=o,
                                           values=n) for (vr, p, li, o), n in facets.items()])
    with connection.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {table}")
    log(f"loaded {N_ROWS:,} value rows with COPY in {time.perf_counter() - start:.1f} s")


def bench_page():
    from collections_app.models import Collection, Status
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from curation.phi.report import filtered
    from curation.phi.views import _cursor_encode

    collection = Collection.objects.create(slug="phi-million", title="PHI million", short_name="phim",
                                           subject_prefix="PHIM", status=Status.DRAFT)
    load_rows(collection.pk)
    user = get_user_model().objects.create_user("bench-curator", password="x")
    user.groups.add(Group.objects.get_or_create(name="curator")[0])
    client = Client()
    client.force_login(user)
    from django.conf import settings
    from django.test import override_settings

    # The page renders {% static %}; with DEBUG off that needs collectstatic's manifest. Plain
    # static storage keeps the measurement about the page, not about a missing build step.
    storages = dict(settings.STORAGES, staticfiles={"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"})
    override_settings(STORAGES=storages).enable()
    base = f"/curation/phi/{collection.slug}/"
    qs = filtered(collection)
    # deep cursors: the tag path half way through the ordering (a page of tag groups), and the
    # row half way through that tag's values (a page of one tag)
    row = qs.order_by("tag_path", "id").values_list("tag_path", "id")[qs.count() // 2]
    middle_tag = _cursor_encode(row[0])
    from urllib.parse import quote

    in_tag = f"path={quote(row[0])}"
    tag_rows = qs.filter(tag_path=row[0]).order_by("id").values_list("tag_path", "id")
    tag_middle = _cursor_encode(list(tag_rows[tag_rows.count() // 2]))
    cases = [
        ("first page (20 tag groups)", ""),
        ("VR = PN", "?vr=PN"),
        ("private only", "?private=private"),
        ("likely PHI", "?likely=1"),
        ("likely PHI, kind=date", "?likely=1&kind=date"),
        ("tag prefix (0010,", "?tag=(0010,"),
        ("with our own UIDs", "?own=1"),
        ("deep page of tag groups (row 500k)", f"?after={middle_tag}"),
        ("deep page of groups, VR = LO", f"?vr=LO&after={middle_tag}"),
        ("one tag's values, first page", f"?{in_tag}"),
        ("one tag's values, deep page", f"?{in_tag}&after={tag_middle}"),
    ]
    results = []
    for label, query in cases:
        client.get(base + query)  # warm
        times = []
        for _ in range(REPS):
            t = time.perf_counter()
            response = client.get(base + query)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        times.sort()
        p50 = statistics.median(times)
        p95 = times[int(0.95 * (len(times) - 1))]
        results.append((label, p50, p95))
        log(f"  {label:32s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    return results


def main():
    if connection.vendor != "postgresql":
        sys.exit("Run this against PostgreSQL (DATABASE_URL=postgresql://…).")
    log(f"database: {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}")
    fresh_schema()
    m_off, m_on, overhead = bench_ingest()
    if not N_ROWS:
        return
    log(f"report page over {N_ROWS:,} value rows, {REPS} requests each (full Django stack, DEBUG off):")
    results = bench_page()
    worst = max(p95 for _, _, p95 in results)
    log(f"worst p95 {worst:.1f} ms (goal < 1000 ms)")


if __name__ == "__main__":
    main()
