"""Metadata digest CSV throughput (rows/s), per image and per series.

    .venv/bin/python bench/digest.py [--images 100000] [--per-series 200] [--runs 3]
    DATABASE_URL=postgresql://… .venv/bin/python bench/digest.py   (a database you own; tables are created)

Builds a version of N images (index rows and manifest rows only; digest never opens files),
then times draining digest.image_csv / digest.series_csv. Goal: ≥ 50,000 rows/s per image.
"""
import argparse
import datetime as dt
import os
import statistics
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


def build(images: int, per_series: int):
    from django.db import transaction
    from django.utils import timezone

    from collections_app.models import (Collection, CollectionVersion, Image, Series, Status, StoredFile, Study, Subject,
                                        VersionEntry)

    with transaction.atomic():
        Collection.objects.filter(slug="bench-digest").exists() and sys.exit("bench collection exists; use an empty database")
        c = Collection.objects.create(slug="bench-digest", title="Bench Digest", short_name="Bench-Digest",
                                      subject_prefix="BDIG", status=Status.PUBLISHED)
        version = CollectionVersion.objects.create(collection=c, number=1, release_date=dt.date.today())
        n_series = max(1, images // per_series)
        now = timezone.now()
        for s in range(n_series):
            subject = Subject.objects.create(collection=c, patient_id=f"BDIG-{s:05d}")
            study = Study.objects.create(collection=c, subject=subject, study_instance_uid=f"1.2.9.{s}", study_date=dt.date(2020, 1, 1),
                                         study_description="CT CHEST W CONTRAST")
            series = Series.objects.create(collection=c, subject=subject, study=study, series_instance_uid=f"1.2.9.{s}.1", modality="CT",
                                           manufacturer="SIEMENS", manufacturer_model_name="Sensation 16", software_versions="VA70C",
                                           series_number="2", series_description="AXIAL 1.25MM", image_count=per_series,
                                           date_released=now)
            files = StoredFile.objects.bulk_create([
                StoredFile(sha256=f"{s:016x}{i:048x}", size=525000 + i, crc32=i, storage_name=f"bench/{s}/{i}")
                for i in range(per_series)
            ])
            Image.objects.bulk_create([
                Image(collection=series.collection, series=series, sop_instance_uid=f"1.2.9.{s}.1.{i}", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                      instance_number=i + 1, stored_file=f, file_size=f.size) for i, f in enumerate(files)
            ])
            VersionEntry.objects.bulk_create([
                VersionEntry(version=version, series=series, sop_instance_uid=f"1.2.9.{s}.1.{i}", stored_file=f,
                             sop_class_uid="1.2.840.10008.5.1.4.1.1.2", instance_number=i + 1)
                for i, f in enumerate(files)
            ])
        CollectionVersion.objects.filter(pk=version.pk).update(image_count=n_series * per_series)
        from collections_app.services.publish import freeze_series

        freeze_series(version)
    version.refresh_from_db()
    return version, n_series


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--per-series", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tcia-bench-digest-") as tmp:
        setup_django(tmp)
        from collections_app.services import digest

        t = time.perf_counter()
        version, n_series = build(args.images, args.per_series)
        print(f"built {version.image_count} images in {n_series} series in {time.perf_counter() - t:.1f} s "
              f"(db={os.environ.get('DATABASE_URL', 'sqlite').split('@')[-1]})")

        def drain(gen):
            t = time.perf_counter()
            size = sum(len(block) for block in gen)
            return time.perf_counter() - t, size

        for label, fn, rows in (("per image", digest.image_csv, version.image_count), ("per series", digest.series_csv, n_series)):
            times = []
            for _ in range(args.runs):
                elapsed, size = drain(fn(version))
                times.append(elapsed)
            med = statistics.median(times)
            print(f"{label:10s} rows={rows:>8d}  median {med:6.3f} s  {rows / med:>10,.0f} rows/s  {size / 1e6:.1f} MB CSV")


if __name__ == "__main__":
    main()
