"""Benchmark of DICOMweb on the generated 1,000,000-image archive of bench/api.py (PostgreSQL).

    DATABASE_URL=postgresql://tcia:tcia@127.0.0.1/tcia_bench .venv/bin/python bench/dicomweb.py
    # again on the same archive and storage root:
    BENCH_REUSE=1 TCIA_STORAGE_ROOT=/tmp/tcia-bench-storage-XXXX .venv/bin/python bench/dicomweb.py

Builds bench/api.py's archive (20 collections x 500 series x 100 images, 100 shared 512 KiB
files), freezes every collection as version 1 with SQL (1,000,000 VersionEntry rows), adds one
published series of 100 real 512 x 512 CT files for frames, then measures through the full
Django stack (test client, DEBUG off, every middleware):

* QIDO series searches: `/series?Modality=CT&limit=100` (with the study attributes of each
  series), `/series?PatientID=…`, and OHIF's `studies/{S}/series`: p50 / p95; goal p50 <= 30 ms.
* WADO-RS retrieval of one series (100 x 512 KiB, multipart/related) paired with `cat` of the
  same files, alternating, same process: goal >= 0.8 x cat.
* WADO-RS frames of 512 x 512 CT (as stored and as the default uncompressed answer), one worker:
  frames/s, against reading the same bytes from the files directly; goal >= 200 frames/s.
"""
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import importlib.util  # noqa: E402

BENCH = Path(__file__).resolve().parent
sys.path.append(str(BENCH))  # for bench/pgschema.py; appended, so the project's `api` package wins
_spec = importlib.util.spec_from_file_location("bench_api", BENCH / "api.py")
api = importlib.util.module_from_spec(_spec)  # bench/api.py: settings, schema, the 1,000,000-image loader
_spec.loader.exec_module(api)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from collections_app.models import Collection, CollectionVersion, Series, VersionEntry, VersionSeries  # noqa: E402

log = api.log
REPS = int(os.environ.get("BENCH_REPS", "200"))
WADO_RUNS = int(os.environ.get("BENCH_WADO_RUNS", "9"))
FRAMES = int(os.environ.get("BENCH_FRAMES", "300"))


def freeze_versions():
    """Version 1 of every collection, frozen with SQL as services.publish would freeze it."""
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("""
            INSERT INTO collections_app_collectionversion (id, collection_id, number, release_date, notes,
                manifest_sha256, image_count, total_bytes, withdrawn_reason, created_at, subject_count, study_count,
                series_count, modalities, body_parts, doi_url)
            SELECT c.id, c.id, 1, DATE '2024-01-15', '', '', 0, 0, '', now(), 0, 0, 0, '[]', '[]', ''
            FROM collections_app_collection c""")
        cur.execute("""
            INSERT INTO collections_app_versionentry (version_id, series_id, sop_instance_uid, stored_file_id,
                sop_class_uid, instance_number, acquisition_number)
            SELECT s.collection_id, i.series_id, i.sop_instance_uid, i.stored_file_id, i.sop_class_uid,
                   i.instance_number, i.acquisition_number
            FROM collections_app_image i JOIN collections_app_series s ON s.id = i.series_id""")
        cur.execute("""
            INSERT INTO collections_app_versionseries (version_id, series_id, collection_short_name, patient_id,
                study_instance_uid, study_date, study_id, study_description, series_instance_uid, series_number,
                series_description, modality, body_part_examined, manufacturer, manufacturer_model_name,
                software_versions, third_party_analysis, image_count, total_bytes)
            SELECT s.collection_id, s.id, c.short_name, p.patient_id, t.study_instance_uid, t.study_date, t.study_id,
                   t.study_description, s.series_instance_uid, s.series_number, s.series_description, s.modality,
                   s.body_part_examined, s.manufacturer, s.manufacturer_model_name, s.software_versions,
                   s.third_party_analysis, coalesce(n.images, 0), coalesce(n.bytes, 0)
            FROM collections_app_series s JOIN collections_app_collection c ON c.id = s.collection_id
            LEFT JOIN (SELECT i.series_id, count(*) AS images, sum(f.size) AS bytes FROM collections_app_image i
                       JOIN collections_app_storedfile f ON f.id = i.stored_file_id GROUP BY i.series_id) n
                   ON n.series_id = s.id
            JOIN collections_app_subject p ON p.id = s.subject_id JOIN collections_app_study t ON t.id = s.study_id""")
        cur.execute("""
            UPDATE collections_app_collectionversion v SET image_count = n.images, total_bytes = n.bytes
            FROM (SELECT version_id, sum(image_count) AS images, sum(total_bytes) AS bytes
                  FROM collections_app_versionseries GROUP BY version_id) n WHERE n.version_id = v.id""")
        # The bench files are random bytes, not DICOM: give them the parsed headers a real file of
        # this shape would have, as the first QIDO request would have stored them.
        cur.execute("""
            INSERT INTO dicomweb_instanceheader (stored_file_id, dicom_json, transfer_syntax_uid, summary,
                bits_allocated, rows, columns, samples_per_pixel, number_of_frames, pixel_vr, pixel_offset,
                pixel_length, frames, created_at)
            SELECT id, '{}', '1.2.840.10008.1.2.1',
                   '{"00080030": {"vr": "TM", "Value": ["101010"]}, "00080050": {"vr": "SH"}}'::jsonb,
                   16, 512, 512, 1, 1, 'OW', 0, 524288, '[]'::jsonb, now()
            FROM collections_app_storedfile""")
        for table in ("collections_app_collectionversion", "collections_app_versionentry",
                      "collections_app_versionseries"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    from importlib import import_module

    from django.apps import apps

    with connection.schema_editor() as editor:
        import_module("dicomweb.migrations.0001_initial").create_indexes(apps, editor)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0


def add_frame_series(n=100):
    """One published collection of `n` real 512 x 512 CT files (different pixels each)."""
    import copy

    from collections_app.services.indexing import index_dataset
    from collections_app.services.publish import publish
    from collections_app.services.storage import store_bytes
    from curation.dicom.synth import ct_512, uid_from

    collection, _ = Collection.objects.get_or_create(slug="bench-frames", defaults=dict(
        title="Bench Frames", short_name="BFRAMES", subject_prefix="BFR", status="published"))
    if CollectionVersion.objects.filter(collection=collection).exists():
        return
    base = ct_512()
    for i in range(n if not Series.objects.filter(collection=collection).exists() else 0):
        ds = copy.deepcopy(base)
        ds.PatientID = "BFR-0001"
        ds.StudyInstanceUID = uid_from("bench-frames-study")
        ds.SeriesInstanceUID = uid_from("bench-frames-series")
        ds.SOPInstanceUID = uid_from(f"bench-frames-{i}")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        arr = ds.pixel_array.copy()
        arr[0, 0] = i
        ds.PixelData = arr.tobytes()
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        index_dataset(collection=collection, ds=ds, stored_file=store_bytes(out.getvalue()))
    publish(collection, actor=None, notes="bench")


def percentile(values, p):
    return api.percentile(values, p)


def timed(client, url, reps=REPS, **headers):
    for _ in range(10):
        response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    rows = len(response.json())
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = client.get(url, **headers)
        _ = response.content
        times.append((time.perf_counter() - t0) * 1000)
    return rows, statistics.median(times), percentile(times, 95)


def bench_qido(client):
    target = Series.objects.filter(collection__short_name=f"C{api.TARGET:02d}").order_by("id").first()
    study = target.study.study_instance_uid
    patient = target.subject.patient_id
    results = []
    for label, url in [
        ("series?Modality=CT&limit=100", "/dicomweb/series?Modality=CT&limit=100"),
        (f"series?PatientID={patient}", f"/dicomweb/series?PatientID={patient}"),
        ("studies/{S}/series (OHIF)", f"/dicomweb/studies/{study}/series"),
        ("studies?PatientID=…&limit=101 (OHIF)", f"/dicomweb/studies?PatientID={patient}&limit=101"),
    ]:
        rows, p50, p95 = timed(client, url)
        results.append((label, rows, p50, p95))
    return results


def bench_wado(client):
    series = Series.objects.get(series_instance_uid=api.uid(2, api.TARGET, 1))
    names = list(VersionEntry.objects.filter(series=series).order_by("instance_number")
                 .values_list("stored_file__storage_name", flat=True))
    paths = [str(api.STORAGE / "archive" / n) for n in names]
    total = sum(os.path.getsize(p) for p in paths)
    url = f"/dicomweb/studies/{series.study.study_instance_uid}/series/{series.series_instance_uid}"

    def via_wado():
        response = client.get(url, HTTP_ACCEPT='multipart/related; type="application/dicom"')
        assert response.status_code == 200
        n = sum(len(c) for c in response.streaming_content)
        response.close()
        return n

    def via_cat():
        subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)

    size = via_wado()
    via_cat()
    wado_t, cat_t = [], []
    for _ in range(WADO_RUNS):
        t0 = time.perf_counter()
        via_wado()
        wado_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        via_cat()
        cat_t.append(time.perf_counter() - t0)
    return total, size, statistics.median(wado_t), statistics.median(cat_t)


def bench_frames(client):
    from dicomweb.models import InstanceHeader

    collection = Collection.objects.get(slug="bench-frames")
    version = CollectionVersion.objects.get(collection=collection)
    snap = VersionSeries.objects.get(version=version)
    entries = list(VersionEntry.objects.filter(version=version).values_list(
        "sop_instance_uid", "stored_file_id", "stored_file__storage_name"))
    base = f"/dicomweb/studies/{snap.study_instance_uid}/series/{snap.series_instance_uid}/instances"
    results = {}
    for label, accept in [("as stored (transfer-syntax=*)", "multipart/related; type=application/octet-stream; transfer-syntax=*"),
                          ("default (uncompressed)", 'multipart/related; type="application/octet-stream"')]:
        for sop, _fid, _name in entries:  # warm: headers parsed once, as in steady state
            assert client.get(f"{base}/{sop}/frames/1", HTTP_ACCEPT=accept).status_code == 200
        t0 = time.perf_counter()
        for k in range(FRAMES):
            sop = entries[k % len(entries)][0]
            response = client.get(f"{base}/{sop}/frames/1", HTTP_ACCEPT=accept)
            assert sum(len(c) for c in response.streaming_content) > 512 * 512 * 2
        results[label] = FRAMES / (time.perf_counter() - t0)
    headers = {h.stored_file_id: h for h in InstanceHeader.objects.filter(stored_file_id__in=[e[1] for e in entries])}
    t0 = time.perf_counter()
    for k in range(FRAMES):
        _sop, fid, name = entries[k % len(entries)]
        h = headers[fid]
        with open(api.STORAGE / "archive" / name, "rb") as fh:
            fh.seek(h.pixel_offset)
            fh.read(h.pixel_length)
    direct = FRAMES / (time.perf_counter() - t0)
    return results, direct


def main():
    log(f"database: {connection.settings_dict['NAME']} on {connection.vendor}; storage: {api.STORAGE}")
    if os.environ.get("BENCH_REUSE") == "1":
        log(f"reusing the loaded archive: {VersionEntry.objects.count():,} version entries")
        add_frame_series()
    else:
        t0 = time.perf_counter()
        api.fresh_schema()
        n, took = api.load()
        log(f"loaded {n:,} image rows with COPY in {took:.1f} s")
        log(f"froze version 1 of {Collection.objects.count()} collections in {freeze_versions():.1f} s "
            f"({VersionEntry.objects.count():,} entries)")
        add_frame_series()
        log(f"whole build {time.perf_counter() - t0:.1f} s")
    client = Client()
    for label, rows, p50, p95 in bench_qido(client):
        log(f"QIDO {label}: {rows} results, N={REPS}: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
            f"(goal p50 <= 30 ms: {'PASS' if p50 <= 30 else 'FAIL'})")
    total, size, wado_s, cat_s = bench_wado(client)
    ratio = cat_s / wado_s
    log(f"WADO-RS series (100 x 512 KiB, multipart {size:,} bytes), paired N={WADO_RUNS}: "
        f"WADO {wado_s * 1000:.1f} ms = {total / wado_s / 1e6:,.0f} MB/s; cat {cat_s * 1000:.1f} ms = "
        f"{total / cat_s / 1e6:,.0f} MB/s; WADO/cat throughput {ratio:.2f}x (goal >= 0.8x: {'PASS' if ratio >= 0.8 else 'FAIL'})")
    results, direct = bench_frames(client)
    for label, rate in results.items():
        log(f"frames 512x512 CT {label}, N={FRAMES}: {rate:,.0f} frames/s (goal >= 200: "
            f"{'PASS' if rate >= 200 else 'FAIL'}); reading the same bytes from the files: {direct:,.0f}/s "
            f"({rate / direct:.2f}x)")


if __name__ == "__main__":
    main()
