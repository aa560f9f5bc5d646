"""Downloads from an S3 bucket versus a plain sequential read of the same objects, in one run.

    .venv/bin/python bench/s3_download.py [--files 100] [--size-kb 512] [--big-mb 64] [--runs 5]

Starts moto's standalone S3 server (`moto_server`, a development server written in Python, not a
production one: absolute figures say little about MinIO, Ceph RGW or AWS, the ratios say what
the portal adds), puts the archive storage in a bucket of it, builds one published series of N
random files (SQLite in a temp folder, or DATABASE_URL) and one file of --big-mb, then times:

  cat       each object read with boto3 `get_object` in 1 MiB reads, one after another, to
            /dev/null: what `aws s3 cp`/`cat` of the objects costs, the baseline
  service   build_package + stream_zip to /dev/null in this process (DB queries included),
            with the GETs of the next 4 files sent ahead (tcia.core.objectstore.openers)
  service-seq  the same, one GET after another (READ_AHEAD_FILES = 0)
  http      the /downloads/versions/<id>.zip view through Django's test client
  file      the big file through /downloads/versions/<id>/images/<sop>.dcm (streamed)
  redirect  the same URL with TCIA_S3_REDIRECT_DOWNLOADS: the 302, then the presigned GET
  file-cat  the big object read with boto3 alone

and prints MB/s and each ratio to its baseline. Medians of --runs.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def timed(fn):
    t = time.perf_counter()
    n = fn()
    return time.perf_counter() - t, n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--size-kb", type=int, default=512)
    parser.add_argument("--big-mb", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from tests import s3

    server, url = s3.start_server()
    try:
        bucket = s3.new_bucket(url)
        os.environ.update(s3.environment(url, bucket))
        with tempfile.TemporaryDirectory(prefix="tcia-bench-s3-") as tmp:
            run(args, url, bucket, tmp)
    finally:
        server.kill()


def run(args, url, bucket, tmp):
    from download import build, setup_django, stream_version_zip  # bench/download.py: the same corpus as the local bench

    setup_django(tmp)
    import urllib3
    from django.conf import settings
    from django.core.files.storage import storages
    from django.test import Client

    from collections_app.models import Image
    from collections_app.services.storage import store_bytes

    storage = storages["archive"]
    assert hasattr(storage, "bucket_name"), "the archive storage is not the bucket"
    version = build(args.files, args.size_kb * 1024)
    keys = [storage._key(e.stored_file.storage_name) for e in version.entries.select_related("stored_file")]
    total = sum(e.stored_file.size for e in version.entries.select_related("stored_file"))
    big = store_bytes(os.urandom(args.big_mb * 1024 * 1024))
    series = version.entries.first().series
    Image.objects.create(collection=series.collection, series=series, sop_instance_uid="1.2.3.4.1.1.999999",
                         instance_number=999999, stored_file=big, file_size=big.size)
    from collections_app.services.publish import publish

    version2 = publish(series.collection, actor=None, notes="bench big")
    big_url = f"/downloads/versions/{version2.pk}/images/1.2.3.4.1.1.999999.dcm"
    client = Client()
    s3c = storage.client
    http = urllib3.PoolManager()

    def cat_keys(names):
        n = 0
        for key in names:
            body = s3c.get_object(Bucket=bucket, Key=key)["Body"]
            while chunk := body.read(1024 * 1024):
                n += len(chunk)
        return n

    def service():
        return stream_version_zip(version)

    def service_sequential():
        from tcia.core import objectstore

        saved, objectstore.READ_AHEAD_FILES = objectstore.READ_AHEAD_FILES, 0
        try:
            return service()
        finally:
            objectstore.READ_AHEAD_FILES = saved

    def http_zip():
        response = client.get(f"/downloads/versions/{version.pk}.zip")
        n = sum(len(c) for c in response.streaming_content)
        assert n == int(response["Content-Length"])
        return n

    def file_streamed():
        settings.TCIA_S3_REDIRECT_DOWNLOADS = False
        response = client.get(big_url)
        n = sum(len(c) for c in response.streaming_content)
        assert n == big.size
        return n

    def file_redirect():
        settings.TCIA_S3_REDIRECT_DOWNLOADS = True
        try:
            response = client.get(big_url)
            assert response.status_code == 302
            answer = http.request("GET", response["Location"], preload_content=False)
            n = 0
            for chunk in answer.stream(1024 * 1024):
                n += len(chunk)
            answer.release_conn()
            assert n == big.size
            return n
        finally:
            settings.TCIA_S3_REDIRECT_DOWNLOADS = False

    big_key = [storage._key(big.storage_name)]
    cases = {"cat": lambda: cat_keys(keys), "service": service, "service-seq": service_sequential, "http": http_zip,
             "file-cat": lambda: cat_keys(big_key), "file": file_streamed, "redirect": file_redirect}
    for fn in cases.values():  # warm up imports, connections and moto
        fn()
    results = {k: [] for k in cases}
    for _ in range(args.runs):
        for key, fn in cases.items():
            results[key].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in results.items()}
    mb, big_mb = total / 1e6, big.size / 1e6
    print(f"S3 server: moto {moto_version()} (development server, not production); files={args.files} "
          f"size={args.size_kb} KiB total={mb:.1f} MB; big file {big_mb:.1f} MB; runs={args.runs}; "
          f"db={os.environ.get('DATABASE_URL', 'sqlite')}")
    for key, size, base in (("cat", mb, "cat"), ("service", mb, "cat"), ("service-seq", mb, "cat"), ("http", mb, "cat"),
                            ("file-cat", big_mb, "file-cat"), ("file", big_mb, "file-cat"), ("redirect", big_mb, "file-cat")):
        print(f"{key:9s} median {med[key] * 1000:8.1f} ms  {size / med[key]:7.0f} MB/s  ratio to {base} {med[base] / med[key]:.2f}")


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


if __name__ == "__main__":
    main()
