"""Zip download throughput versus `cat` of the same files, in the same run.

    .venv/bin/python bench/download.py [--files 100] [--size-kb 512] [--runs 5]

Builds a throw-away archive (SQLite and storage in a temp folder, or DATABASE_URL), one series
of N random files, publishes it, then times, with a warm page cache:
  cat      `cat <files> > /dev/null` (a subprocess, like a shell user)
  service  build_package + stream_zip to /dev/null in this process (DB queries included)
  http     the /downloads/versions/<id>.zip view through Django's test client
and prints MB/s and the ratio to cat (goal ≥ 0.8). Medians of --runs.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(tmp: str):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")
    os.environ["TCIA_VAR_DIR"] = tmp
    os.environ["TCIA_STORAGE_ROOT"] = os.path.join(tmp, "storage")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(files: int, size: int):
    import datetime as dt

    from collections_app.models import Collection, Image, Series, Status, Study, Subject
    from collections_app.services.publish import publish
    from collections_app.services.storage import store_bytes

    collection = Collection.objects.create(slug="bench-dl", title="Bench Download", short_name="Bench-Download",
                                           subject_prefix="BENCH", status=Status.IN_CURATION)
    subject = Subject.objects.create(collection=collection, patient_id="BENCH-0001")
    study = Study.objects.create(collection=collection, subject=subject, study_instance_uid="1.2.3.4.1", study_date=dt.date(2020, 1, 1))
    series = Series.objects.create(collection=collection, subject=subject, study=study, series_instance_uid="1.2.3.4.1.1",
                                   modality="CT", series_number="1", series_description="bench")
    for i in range(files):
        sf = store_bytes(os.urandom(size))
        Image.objects.create(collection=collection, series=series, sop_instance_uid=f"1.2.3.4.1.1.{i + 1}", instance_number=i + 1, stored_file=sf, file_size=sf.size)
    return publish(collection, actor=None, notes="bench")


def stream_version_zip(version) -> int:
    """build_package + stream_zip of the whole version to /dev/null; the bytes written."""
    from collections_app.services import downloads
    from collections_app.services.zipstream import stream_zip

    package = downloads.build_package(downloads.version_selection(version), name="bench", when=version.created_at)
    n = 0
    with open(os.devnull, "wb") as out:
        for chunk in stream_zip(package.members):
            out.write(chunk)
            n += len(chunk)
    assert n == package.length
    return n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size-kb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcia-bench-dl-") as tmp:
        setup_django(tmp)
        from django.test import Client

        version = build(args.files, args.size_kb * 1024)
        paths = [e.stored_file.path() for e in version.entries.select_related("stored_file")]
        total = sum(os.path.getsize(p) for p in paths)
        client = Client()

        def run_cat():
            t = time.perf_counter()
            subprocess.run(["cat", *paths], stdout=subprocess.DEVNULL, check=True)
            return time.perf_counter() - t

        def run_service():
            t = time.perf_counter()
            stream_version_zip(version)
            return time.perf_counter() - t

        def run_http():
            t = time.perf_counter()
            response = client.get(f"/downloads/versions/{version.pk}.zip")
            n = sum(len(c) for c in response.streaming_content)
            assert n == int(response["Content-Length"])
            return time.perf_counter() - t

        run_cat(), run_service(), run_http()  # warm the page cache and imports
        results = {"cat": [], "service": [], "http": []}
        for _ in range(args.runs):
            results["cat"].append(run_cat())
            results["service"].append(run_service())
            results["http"].append(run_http())
        med = {k: statistics.median(v) for k, v in results.items()}
        mb = total / 1e6
        print(f"files={args.files} size={args.size_kb} KiB total={mb:.1f} MB runs={args.runs} db={os.environ.get('DATABASE_URL', 'sqlite')}")
        for key in ("cat", "service", "http"):
            print(f"{key:8s} median {med[key] * 1000:8.1f} ms  {mb / med[key]:8.0f} MB/s  ratio to cat {med['cat'] / med[key]:.2f}")


if __name__ == "__main__":
    main()
