#!/usr/bin/env python
"""Equivalence-class review at scale (issue #17 point 1): queue size and montage render time.

    .venv/bin/python bench/review.py                 # 10,000 images, 300-slice montage, 5 runs
    .venv/bin/python bench/review.py -n 2000 --runs 3
    DATABASE_URL=postgresql://… .venv/bin/python bench/review.py

1. A synthesized submission of N images (default 10,000) goes through the real intake
   (Intake.take_many, chunks of 200, only the review hook registered unless --all-hooks) with
   tasks queued, not run. Per subject: a 3-plane localizer (3 classes: one line per plane), a
   300-slice axial CT with 2 derived reformats in the same series (2 classes), a 5-image
   ultrasound series with BurnedInAnnotation YES (1 class, OCR-likely); the rest in one series
   without position or orientation (1 extra class). Printed: images, classes, review-queue
   entries, entries per class (goal <= 1), tasks the hook queued, intake files/s, and the queue
   order (OCR-likely classes first, then by size).
2. The max | mean | min montage of one 300-slice 512 x 512 CT class, stored in the archive
   storage: cold render (derived.montage: read each file from the storage, decode, project,
   window, JPEG; the cache entry removed before each run), goal <= 150 ms, against a baseline
   measured in the same run on the same files: a plain NumPy load (storage read + dcmread +
   np.frombuffer of PixelData, nothing else). Also the projection alone over arrays already in
   memory, and numpy.stack + max/mean/min of the same arrays for comparison.

Runs on a throw-away test database (SQLite unless DATABASE_URL is set) and storage root.
"""
import argparse
import copy
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")
os.environ["TCIA_Q_SYNC"] = "0"  # tasks are queued (recorded below), not run

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.test.utils import setup_databases, teardown_databases  # noqa: E402
from pydicom import dcmread  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

from curation.dicom import synth  # noqa: E402

AXIAL, SAGITTAL, CORONAL = [1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, -1], [1, 0, 0, 0, 0, -1]


def _file(base, *, patient, series_key, n, image_type, iop=AXIAL, z=0.0, modality=None, extra=None):
    ds = copy.deepcopy(base)
    ds.PatientID, ds.PatientName = patient, f"Doe^{patient}"
    ds.StudyInstanceUID = synth.uid_from(f"rv-study:{patient}")
    ds.SeriesInstanceUID = synth.uid_from(f"rv-series:{patient}:{series_key}")
    ds.FrameOfReferenceUID = synth.uid_from(f"rv-frame:{patient}")
    ds.SOPInstanceUID = synth.uid_from(f"rv-sop:{patient}:{series_key}:{n}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.InstanceNumber = n + 1
    ds.ImageType = image_type
    if iop is None:
        for kw in ("ImageOrientationPatient", "ImagePositionPatient", "SliceLocation"):
            if kw in ds:
                delattr(ds, kw)
    else:
        ds.ImageOrientationPatient = iop
        ds.ImagePositionPatient = [0.0, 0.0, z]
    if modality:
        ds.Modality = modality
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def submission_files(total: int, slices: int = 300):
    """(name, bytes) of about `total` images, and the number of classes the layout makes."""
    base = synth.template("CT_small.dcm")
    files, classes = [], 0
    per_subject = 3 + slices + 2 + 5
    subjects = max(1, total // per_subject)
    for s in range(subjects):
        pid = f"RV{s:04d}"
        for n, iop in enumerate((AXIAL, SAGITTAL, CORONAL)):
            files.append(_file(base, patient=pid, series_key="loc", n=n, image_type=["ORIGINAL", "PRIMARY", "LOCALIZER"],
                               iop=iop))
        for n in range(slices):
            files.append(_file(base, patient=pid, series_key="ax", n=n, image_type=["ORIGINAL", "PRIMARY", "AXIAL"],
                               z=n * 1.25))
        for n in range(2):
            files.append(_file(base, patient=pid, series_key="ax", n=slices + n, z=n * 10.0,
                               image_type=["DERIVED", "SECONDARY", "REFORMATTED"]))
        for n in range(5):
            files.append(_file(base, patient=pid, series_key="us", n=n, image_type=["ORIGINAL", "PRIMARY"], modality="US",
                               extra={"BurnedInAnnotation": "YES"}))
        classes += 6
    rest = total - len(files)
    for n in range(max(0, rest)):
        files.append(_file(base, patient="RVREST", series_key="extra", n=n, image_type=["ORIGINAL", "PRIMARY"], iop=None))
    classes += 1 if rest > 0 else 0
    return [(f"f{i:06d}.dcm", data) for i, data in enumerate(files)], classes


def ct512_class(slices: int):
    """`slices` distinct 512 x 512 CT files (0.5 MB each), with a caption burned into one."""
    big = synth.ct_512()
    rng = np.random.default_rng(3)
    out = []
    for i in range(slices):
        ds = copy.deepcopy(big)
        arr = big.pixel_array.astype(np.int16) + rng.integers(-20, 20, (512, 512), dtype=np.int16)
        if i == slices // 2:
            arr[10:40, 20:300] = 3000
        ds.PixelData = arr.tobytes()
        ds.SOPInstanceUID = synth.uid_from(f"rv512:{i}")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [0.0, 0.0, i * 1.25]
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out


def median_ms(samples):
    return statistics.median(samples) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10000, help="images in the submission")
    parser.add_argument("--slices", type=int, default=300, help="slices of the montage class")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=200)
    parser.add_argument("--all-hooks", action="store_true", help="keep every app's ingest hook, not only the review hook")
    args = parser.parse_args()

    print(f"synthesizing {args.n} images …", flush=True)
    files, expected_classes = submission_files(args.n)
    from django.db import connection

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        from collections_app.models import Collection, Image
        from collections_app.services.storage import store_bytes
        from curation import hooks
        from curation.models import IntakeBatch
        from curation.review import derived, services
        from curation.review import hooks as review_hooks
        from curation.review.models import ImageClass
        from curation.services.intake import Intake, start_batch
        from curation.services.submissions import create_submission

        if not args.all_hooks:
            hooks._INGEST_HOOKS[:] = [h for h in hooks._INGEST_HOOKS if h.__module__ == "curation.review.hooks"]
        queued = []
        review_hooks._enqueue = lambda func, *a: queued.append((func, a))  # record, do not queue

        collection = Collection.objects.create(slug="rv-bench", title="Review bench", short_name="RV", subject_prefix="RVB")
        submission = create_submission(collection=collection)
        intake = Intake(submission, start_batch(submission=submission, source=IntakeBatch.Source.CLI, total=len(files)))
        t = time.perf_counter()
        for i in range(0, len(files), args.chunk):
            taken = intake.take_many([(data, name, None) for name, data in files[i:i + args.chunk]])
            assert all(x.outcome == "accepted" for x in taken), [(x.outcome, x.reason) for x in taken if x.outcome != "accepted"][:3]
        intake.finish()
        intake_s = time.perf_counter() - t
        images = Image.objects.filter(collection=collection).count()
        classes = ImageClass.objects.filter(collection=collection)
        n_classes = classes.count()
        q = list(services.queue(collection).values_list("pk", flat=True))
        per_class = max((q.count(pk) for pk in set(q)), default=0)
        class_tasks = [pk for func, a in queued if func.endswith("review_chunk") for pk in a[0]]
        order = [(c.likely_text, c.image_count) for c in services.queue(collection)]
        vendor = connection.vendor

        # 2. the montage of one 300-slice 512 x 512 class
        print(f"writing {args.slices} 512 x 512 CT files to the archive storage …", flush=True)
        stored = [store_bytes(b) for b in ct512_class(args.slices)]
        key = derived.montage_key([s.sha256 for s in stored])
        storage = derived.storage()
        cold, load, proj, stack_t = [], [], [], []
        arrays = None
        for _ in range(args.runs):
            if storage.exists(derived.montage_name(key)):
                storage.delete(derived.montage_name(key))
            t = time.perf_counter()
            data, _, unusable = derived.montage(stored)
            cold.append(time.perf_counter() - t)
            assert data[:2] == b"\xff\xd8" and unusable == 0
            t = time.perf_counter()
            arrays = []
            for s in stored:
                with s.open() as fh:
                    ds = dcmread(io.BytesIO(fh.read()))
                arrays.append(np.frombuffer(ds.PixelData, dtype="<i2").reshape(ds.Rows, ds.Columns))
            load.append(time.perf_counter() - t)
            from curation.dicom import render

            t = time.perf_counter()
            p = render.Projection()
            for a in arrays:
                p.add(a, slope=1.0, intercept=-1024.0)
            p.panels()
            proj.append(time.perf_counter() - t)
            t = time.perf_counter()
            st = np.stack(arrays)
            st.max(axis=0), st.mean(axis=0), st.min(axis=0)
            stack_t.append(time.perf_counter() - t)
    finally:
        teardown_databases(old_config, verbosity=0)

    print(f"\ndatabase: {vendor}; hooks: {'all' if args.all_hooks else 'review only'}")
    print(f"1. submission: {images} images through intake in {intake_s:.1f} s ({images / intake_s:.0f} files/s)")
    print(f"   image classes: {n_classes} (layout makes {expected_classes}); review queue entries: {len(q)}; "
          f"entries per class: max {per_class} (goal <= 1)")
    print(f"   tasks the review hook queued: {len(queued)} (at the batch's end: one per 64 due classes); "
          f"class renders asked: {len(class_tasks)} for {len(set(class_tasks))} classes")
    first = order[:3]
    print(f"   queue head (likely text, images): {first} … tail {order[-2:]}")
    c, lo = median_ms(cold), median_ms(load)
    print(f"2. montage of a {args.slices}-slice 512 x 512 CT class, median of {args.runs}:")
    print(f"   cold render (storage read + decode + max/mean/min + window + JPEG): {c:.0f} ms   (goal <= 150 ms)")
    print(f"   baseline, plain NumPy load of the same files (storage read + dcmread + frombuffer): {lo:.0f} ms")
    print(f"   ratio render / load: {c / lo:.2f}x;  projection alone over the loaded arrays: {median_ms(proj):.0f} ms; "
          f"numpy.stack + max/mean/min: {median_ms(stack_t):.0f} ms")


if __name__ == "__main__":
    main()
