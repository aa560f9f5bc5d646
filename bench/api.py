"""Benchmark of the NBIA-compatible API on a generated archive of 1,000,000 images (PostgreSQL).

    DATABASE_URL=postgresql://tcia:tcia@127.0.0.1/tcia_bench .venv/bin/python bench/api.py
    # measure again without reloading (storage root of the previous run):
    BENCH_REUSE=1 TCIA_STORAGE_ROOT=/tmp/tcia-bench-storage-XXXX .venv/bin/python bench/api.py

Builds the schema from the models in a fresh `public` schema of that database (it is wiped),
loads 20 collections x 500 series x 100 images with psycopg COPY (the image rows share 100
stored files of 512 KiB, written to a temporary storage root), then measures:

* getSeries for one collection (500 rows) through the full Django stack (test client,
  DEBUG off, all middleware): p50 / p95 over many repetitions; goal p50 <= 30 ms.
* getImage of one series (100 x 512 KiB, stored zip) streamed through the same stack, paired
  with `cat` of the same 100 files (alternating runs, same process): goal >= 0.8 x cat.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgresql://tcia:tcia@127.0.0.1/tcia_bench")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("TCIA_LOG_LEVEL", "WARNING")
STORAGE = Path(os.environ.setdefault("TCIA_STORAGE_ROOT", tempfile.mkdtemp(prefix="tcia-bench-storage-")))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings")

import django  # noqa: E402

django.setup()

from pgschema import fresh_schema, log  # noqa: E402  (bench/ is on sys.path)

import datetime as dt  # noqa: E402

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from collections_app.models import Collection, Image, Series, StoredFile, Study, Subject  # noqa: E402

COLLECTIONS = int(os.environ.get("BENCH_COLLECTIONS", "20"))
SERIES_PER_COLLECTION = int(os.environ.get("BENCH_SERIES", "500"))
IMAGES_PER_SERIES = int(os.environ.get("BENCH_IMAGES", "100"))
SUBJECTS_PER_COLLECTION = 50
STUDIES_PER_SUBJECT = 2
FILES = 100
FILE_SIZE = 512 * 1024
TARGET = min(7, COLLECTIONS)
REPS = int(os.environ.get("BENCH_REPS", "300"))
ZIP_RUNS = int(os.environ.get("BENCH_ZIP_RUNS", "9"))


def columns(model):
    return [f for f in model._meta.concrete_fields]


def copy_rows(model, rows):
    """COPY dict rows (keyed by attname) into the model's table; missing fields get defaults."""
    fields = columns(model)
    now = timezone.now()
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    defaults = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = now
        elif f.has_default():
            defaults[f.attname] = f.get_default()
        elif f.null:
            defaults[f.attname] = None
        else:
            defaults[f.attname] = ""
    count = 0
    raw = connection.connection  # the psycopg 3 connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(f.attname, defaults[f.attname]) for f in fields])
                count += 1
    return count


def uid(*parts):
    return "1.2.826.0.1.3680043.10.1392." + ".".join(str(p) for p in parts)


def load():
    storage_dir = STORAGE / "archive"
    files = []
    for i in range(FILES):
        data = os.urandom(FILE_SIZE)
        sha = hashlib.sha256(data).hexdigest()
        name = f"{sha[:2]}/{sha[2:4]}/{sha}"
        (storage_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (storage_dir / name).write_bytes(data)
        files.append({"id": i + 1, "sha256": sha, "size": len(data), "crc32": zlib.crc32(data) & 0xFFFFFFFF,
                      "md5": hashlib.md5(data).hexdigest(), "storage_name": name, "content_type": "application/dicom"})
    copy_rows(StoredFile, files)
    released = timezone.make_aware(dt.datetime(2024, 1, 15))
    copy_rows(Collection, (
        {"id": c, "slug": f"bench-{c:02d}", "title": f"Bench {c:02d}", "short_name": f"C{c:02d}",
         "subject_prefix": f"B{c:02d}", "status": "published", "access": "public", "license": "CC-BY-4.0",
         "species": "Human"} for c in range(1, COLLECTIONS + 1)
    ))
    copy_rows(Subject, (
        {"id": (c - 1) * SUBJECTS_PER_COLLECTION + s, "collection_id": c, "patient_id": f"B{c:02d}-{s:04d}",
         "patient_sex": "F" if s % 2 else "M", "species_description": "Human", "phantom": False}
        for c in range(1, COLLECTIONS + 1) for s in range(1, SUBJECTS_PER_COLLECTION + 1)
    ))
    studies_per_collection = SUBJECTS_PER_COLLECTION * STUDIES_PER_SUBJECT
    copy_rows(Study, (
        {"id": (c - 1) * studies_per_collection + t, "collection_id": c,
         "subject_id": (c - 1) * SUBJECTS_PER_COLLECTION + (t - 1) // STUDIES_PER_SUBJECT + 1,
         "study_instance_uid": uid(1, c, t), "study_date": dt.date(2010, 1, 1) + dt.timedelta(days=t),
         "study_description": "CT CHEST W/O CONTRAST", "study_id": str(t), "patient_age": "060Y"}
        for c in range(1, COLLECTIONS + 1) for t in range(1, studies_per_collection + 1)
    ))
    series_per_study = SERIES_PER_COLLECTION // studies_per_collection

    def series_rows():
        for c in range(1, COLLECTIONS + 1):
            for r in range(1, SERIES_PER_COLLECTION + 1):
                t = (r - 1) // series_per_study + 1
                yield {
                    "id": (c - 1) * SERIES_PER_COLLECTION + r, "collection_id": c,
                    "subject_id": (c - 1) * SUBJECTS_PER_COLLECTION + (t - 1) // STUDIES_PER_SUBJECT + 1,
                    "study_id": (c - 1) * studies_per_collection + t, "series_instance_uid": uid(2, c, r),
                    "modality": "CT" if r % 5 else "SEG", "body_part_examined": "CHEST",
                    "manufacturer": "GE MEDICAL SYSTEMS", "manufacturer_model_name": "LightSpeed Plus",
                    "software_versions": "LightSpeedApps2.4.2_H2.4M5", "protocol_name": "Chest/Abd",
                    "series_date": dt.date(2010, 1, 1) + dt.timedelta(days=t), "series_number": str(r),
                    "series_description": f"Series {r}", "pixel_spacing_row": 0.7, "slice_thickness": 2.5,
                    "image_count": IMAGES_PER_SERIES, "total_bytes": IMAGES_PER_SERIES * FILE_SIZE,
                    "max_submission_timestamp": released, "date_released": released,
                }

    copy_rows(Series, series_rows())

    def image_rows():
        n = 0
        for s in range(1, COLLECTIONS * SERIES_PER_COLLECTION + 1):
            for i in range(1, IMAGES_PER_SERIES + 1):
                n += 1
                yield {"id": n, "collection_id": (s - 1) // SERIES_PER_COLLECTION + 1, "series_id": s,
                       "sop_instance_uid": uid(3, s, i),
                       "sop_class_uid": "1.2.840.10008.5.1.4.1.1.2", "instance_number": i, "acquisition_number": 1,
                       "stored_file_id": (i - 1) % FILES + 1, "file_size": FILE_SIZE,
                       "transfer_syntax_uid": "1.2.840.10008.1.2.1", "rows": 512, "columns": 512}

    t0 = time.perf_counter()
    n = copy_rows(Image, image_rows())
    took = time.perf_counter() - t0
    with connection.cursor() as cur:
        for model in (StoredFile, Collection, Subject, Study, Series, Image):
            table = model._meta.db_table
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    connection.connection.commit() if not connection.get_autocommit() else None
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return n, took


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed_gets(client, url, reps) -> tuple[list[float], object]:
    """Milliseconds of `reps` GETs of url through the client (body read), and the last response."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = client.get(url)
        _ = response.content
        times.append((time.perf_counter() - t0) * 1000)
    return times, response


def bench_get_series(client):
    url = f"/nbia-api/services/v4/getSeries?Collection=C{TARGET:02d}"
    for _ in range(20):
        response = client.get(url)
    rows = len(response.json())
    assert response.status_code == 200 and rows == SERIES_PER_COLLECTION, (response.status_code, rows)
    times, response = timed_gets(client, url, REPS)
    return rows, len(response.content), statistics.median(times), percentile(times, 95)


def bench_get_image(client):
    series = Series.objects.get(series_instance_uid=uid(2, TARGET, 1))
    paths = [str(STORAGE / "archive" / name) for name in
             Image.objects.filter(series=series).order_by("instance_number").values_list("stored_file__storage_name", flat=True)]
    total_bytes = sum(os.path.getsize(p) for p in paths)
    url = f"/nbia-api/services/v4/getImage?SeriesInstanceUID={series.series_instance_uid}&NewFileNames=Yes"

    def via_api():
        response = client.get(url)
        assert response.status_code == 200
        n = 0
        for chunk in response.streaming_content:
            n += len(chunk)
        response.close()
        return n

    def via_cat():
        subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)

    zip_size = via_api()
    via_cat()
    api_t, cat_t = [], []
    for _ in range(ZIP_RUNS):
        t0 = time.perf_counter()
        via_api()
        api_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        via_cat()
        cat_t.append(time.perf_counter() - t0)
    return total_bytes, zip_size, statistics.median(api_t), statistics.median(cat_t)


def main():
    log(f"database: {connection.settings_dict['NAME']} on {connection.vendor}; storage: {STORAGE}")
    t0 = time.perf_counter()
    if os.environ.get("BENCH_REUSE") == "1":  # measure again on the archive (and storage root) of a previous run
        log(f"reusing the loaded archive: {Image.objects.count():,} image rows")
    else:
        fresh_schema()
        n, took = load()
        log(f"loaded {n:,} image rows with COPY in {took:.1f} s ({n / took:,.0f} rows/s); "
            f"whole build {time.perf_counter() - t0:.1f} s")
    client = Client()
    rows, size, p50, p95 = bench_get_series(client)
    log(f"getSeries?Collection=C{TARGET:02d}: {rows} rows, {size:,} bytes JSON, N={REPS}: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(goal p50 <= 30 ms: {'PASS' if p50 <= 30 else 'FAIL'})")
    total, zip_size, api_s, cat_s = bench_get_image(client)
    api_rate, cat_rate = total / api_s / 1e6, total / cat_s / 1e6
    ratio = cat_s / api_s
    log(f"getImage (100 x {FILE_SIZE // 1024} KiB, zip {zip_size:,} bytes), paired N={ZIP_RUNS}: "
        f"API {api_s * 1000:.1f} ms = {api_rate:,.0f} MB/s; cat {cat_s * 1000:.1f} ms = {cat_rate:,.0f} MB/s; "
        f"API/cat throughput {ratio:.2f}x (goal >= 0.8x: {'PASS' if ratio >= 0.8 else 'FAIL'})")


if __name__ == "__main__":
    main()
