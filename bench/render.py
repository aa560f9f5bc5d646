"""Benchmark of the review queue's rendering and serving (prints figures; not a test).

    .venv/bin/python bench/render.py [--runs 30]

1. Cold render of a 512 x 512 CT slice from bytes: dcmread + decode + rescale + window + JPEG q85
   (target <= 15 ms), and the 128 px thumbnail made at intake.
2. A page of 100 thumbnails: the grid page plus its contact sheet (one JPEG holding the page's
   100 thumbnails), in-process through the full Django stack (middleware, session, curator
   check) with the test client, summed (target < 300 ms of server time). Thumbnails were
   rendered at intake by the review task; the sheet is composed from them on first view.
   For reference, the 100 thumbnails as 100 separate requests are timed too.
3. A cached preview served (target <= 5 ms of server time).

Parts 2 and 3 run against a throw-away test database (SQLite unless DATABASE_URL is set) and a
temporary storage root.
"""
import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tcia.settings_test")


def median_ms(samples):
    return statistics.median(samples) * 1000


def ct_512_bytes(seed=0) -> bytes:
    import numpy as np
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = dcmread(get_testdata_file("CT_small.dcm", download=False))
    # real CT pixels: the J2K sample is a 512 x 512 CT slice (decoded once here)
    src = dcmread(get_testdata_file("J2K_pixelrep_mismatch.dcm", download=False))
    arr = src.pixel_array.astype(np.int16)
    arr = np.roll(arr, seed, axis=0)
    ds.Rows, ds.Columns = arr.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = arr.tobytes()
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def bench_cold(runs):
    from curation.dicom import render

    blobs = [ct_512_bytes(i) for i in range(runs)]
    for b in blobs[:3]:
        render.preview_jpeg(b)  # warm imports and the decoder plugins
    steps = {"read": [], "decode+rescale": [], "window": [], "jpeg": [], "total": [], "thumb": []}
    for b in blobs:
        t0 = time.perf_counter()
        ds = render.read(b)
        t1 = time.perf_counter()
        values = render.modality_values(ds)
        t2 = time.perf_counter()
        arr = render.apply_window(values, render.resolve_window(ds, values))
        t3 = time.perf_counter()
        from PIL import Image

        render.encode_jpeg(Image.fromarray(arr))
        t4 = time.perf_counter()
        steps["read"].append(t1 - t0)
        steps["decode+rescale"].append(t2 - t1)
        steps["window"].append(t3 - t2)
        steps["jpeg"].append(t4 - t3)
    for b in blobs:
        t0 = time.perf_counter()
        render.preview_jpeg(b)
        steps["total"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        render.thumbnail_jpeg(b)
        steps["thumb"].append(time.perf_counter() - t0)
    return {k: median_ms(v) for k, v in steps.items()}


def bench_server(runs):
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from collections_app.models import Series
        from curation.review import derived
        from tests.conftest import make_user
        from tests.review.helpers import ct_series_bytes, ingest

        from curation import hooks
        from curation.review.hooks import on_ingest

        # Only the review hook: other apps' intake hooks are not what this bench measures.
        for fn in list(hooks._INGEST_HOOKS):
            if fn is not on_ingest:
                hooks.unregister_ingest_hook(fn)
        user = make_user("bench-curator", "curator", is_staff=True)
        t0 = time.perf_counter()
        sub = ingest(ct_series_bytes(100), slug="bench-render", prefix="BRD")
        ingest_s = time.perf_counter() - t0
        series = Series.objects.get(collection=sub.collection)
        shas = list(series.images.values_list("stored_file__sha256", flat=True))
        # Thumbnails are rendered on demand since classes are reviewed by montage (issue #17): render
        # them first, as the first visit of the grid would, so the figures below stay comparable.
        for image in series.images.select_related("stored_file"):
            derived.thumbnail(image.stored_file)
        assert all(derived.storage().exists(derived.thumb_name(s)) for s in shas), "thumbnails not rendered"
        client = Client()
        client.force_login(user)
        grid_url = reverse("curation:review:series", args=[series.pk])
        thumb_urls = [reverse("curation:review:thumb", args=[s]) for s in shas]

        def body(resp):
            if resp.streaming:
                data = b"".join(resp.streaming_content)
                resp.close()
                return data
            return resp.content

        import re

        def sheet_url(html):
            return re.search(r'data-sheet="([^"]+/sheet/[^"]+)"', html).group(1)  # set as the background by sheet.js

        # cold: the grid page and its contact sheet composed from the intake thumbnails
        t0 = time.perf_counter()
        r = client.get(grid_url)
        html = body(r).decode()
        s = client.get(sheet_url(html))
        assert s.status_code == 200 and s["Content-Type"] == "image/jpeg"
        body(s)
        cold_page = time.perf_counter() - t0
        assert html.count('class="sheet-cell"') == 100

        page, grid_only, sheet_only, thumbs_only = [], [], [], []
        for _ in range(3):  # warm-up
            body(client.get(grid_url))
        for _ in range(runs):
            t0 = time.perf_counter()
            r = client.get(grid_url)
            assert r.status_code == 200
            html = body(r).decode()
            t1 = time.perf_counter()
            s = client.get(sheet_url(html))
            assert s.status_code == 200
            body(s)
            t2 = time.perf_counter()
            page.append(t2 - t0)
            grid_only.append(t1 - t0)
            sheet_only.append(t2 - t1)
        # reference: the same 100 thumbnails as 100 separate requests
        for _ in range(max(3, runs // 3)):
            t0 = time.perf_counter()
            for u in thumb_urls:
                r = client.get(u)
                assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
                body(r)
            thumbs_only.append(time.perf_counter() - t0)

        preview_url = reverse("curation:review:preview", args=[shas[0], "default", 0])
        first = client.get(preview_url)
        assert "rendered" in first["X-Render"], first["X-Render"]
        body(first)
        cached = []
        for _ in range(max(runs * 10, 100)):
            t0 = time.perf_counter()
            r = client.get(preview_url)
            body(r)
            cached.append(time.perf_counter() - t0)
            assert "cache" in r["X-Render"]
        return {
            "ingest_100_s": ingest_s, "page_100_ms": median_ms(page), "grid_html_ms": median_ms(grid_only),
            "sheet_ms": median_ms(sheet_only), "cold_page_ms": cold_page * 1000,
            "thumbs_100_ms": median_ms(thumbs_only), "cached_preview_ms": median_ms(cached),
            "db": connection.vendor,
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    cold = bench_cold(args.runs)
    print(f"Cold render, 512x512 CT (int16, explicit VR LE), median of {args.runs}:")
    for k in ("read", "decode+rescale", "window", "jpeg"):
        print(f"  {k:16} {cold[k]:7.2f} ms")
    print(f"  {'end to end':16} {cold['total']:7.2f} ms   (target <= 15 ms)  {'OK' if cold['total'] <= 15 else 'OVER'}")
    print(f"  {'thumbnail 128px':16} {cold['thumb']:7.2f} ms")
    srv = bench_server(max(5, args.runs // 3))
    print(f"Server time (in-process Django test client, {srv['db']}, median of {max(5, args.runs // 3)}):")
    print(f"  ingest of the 100-image series incl. review tasks: {srv['ingest_100_s']:.2f} s")
    print(f"  grid page HTML (100 cells)     {srv['grid_html_ms']:7.2f} ms")
    print(f"  its contact sheet (cached)     {srv['sheet_ms']:7.2f} ms")
    print(f"  page of 100 thumbnails (total) {srv['page_100_ms']:7.2f} ms   (target < 300 ms)  {'OK' if srv['page_100_ms'] < 300 else 'OVER'}")
    print(f"  same, first view (sheet composed from the intake thumbnails) {srv['cold_page_ms']:7.2f} ms")
    print(f"  reference: 100 separate thumbnail requests {srv['thumbs_100_ms']:7.2f} ms")
    print(f"  cached preview                 {srv['cached_preview_ms']:7.2f} ms   (target <= 5 ms)  {'OK' if srv['cached_preview_ms'] <= 5 else 'OVER'}")


if __name__ == "__main__":
    main()
