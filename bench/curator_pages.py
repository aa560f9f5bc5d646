"""The curator's pages on the 1,000,000-image PostgreSQL archive.

    DATABASE_URL=postgresql://…/tcia_bench .venv/bin/python bench/curator_pages.py
    BENCH_REUSE=1 DATABASE_URL=… .venv/bin/python bench/curator_pages.py   # measure again, no reload

Builds bench/api.py's archive (20 collections × 500 series × 100 images, the `public` schema is
wiped), then gives collection 7 (50,000 images) a curation workspace as intake would leave it at
TCIA's scale: a submission, 20,000 findings (errors, warnings, infos of 40 message templates over
its series), one review class per series (500 classes, a third reviewed), and the PHI report's
1,000,000 value rows (bench/phi_report.py's loader). Then fetches each curator page through the
whole Django stack (test client, DEBUG off, every middleware, logged in as a curator): p50 and
p95 over BENCH_REPS requests. Goal: p95 < 1 s for every page (docs/benchmarks.md).
"""
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.append(str(BENCH))  # for pgschema and phi_report; appended, so the project's `api` package wins
os.environ.setdefault("DJANGO_STATIC_ROOT", tempfile.mkdtemp(prefix="tcia-bench-static-"))  # DEBUG off: collected
_spec = importlib.util.spec_from_file_location("bench_api", BENCH / "api.py")
api = importlib.util.module_from_spec(_spec)  # bench/api.py: settings, schema, the 1,000,000-image loader
_spec.loader.exec_module(api)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

REPS = int(os.environ.get("BENCH_REPS", "20"))
GOAL_MS = 1000
TARGET = 7
N_FINDINGS = int(os.environ.get("BENCH_FINDINGS", "20000"))


def build_workspace():
    from collections_app.models import Collection, Series, Status
    from curation.checks.models import Finding
    from curation.review.models import ImageClass
    from curation.services.submissions import create_submission

    collection = Collection.objects.get(pk=TARGET)
    Collection.objects.filter(pk=TARGET).update(status=Status.IN_CURATION)
    collection.refresh_from_db()
    submission = create_submission(collection=collection)
    series = list(Series.objects.filter(collection=collection).values_list("id", "subject_id", "study_id"))
    rng = random.Random(7)
    templates = [f"Attribute {name} is {what}" for name in ("SliceThickness", "PatientAge", "BodyPartExamined",
                 "ImageType", "ConvolutionKernel", "ReferringPhysicianName", "StudyID", "AccessionNumber")
                 for what in ("empty (Type 1)", "missing (Type 2)", "of retired VR", "inconsistent within the series",
                              "different across the subject")]

    def findings():
        for i in range(N_FINDINGS):
            sid, subject, study = series[i % len(series)]
            severity = ("error", "warning", "warning", "info")[i % 4]
            message = templates[i % len(templates)]
            yield {"id": i + 1, "collection_id": TARGET, "check_name": ("dciodvfy", "consistency_series", "consistency_subject",
                                                          "duplicate_pixels")[i % 4],
                   "severity": severity, "scope": "series", "message": f"{message} ({i})",
                   "fingerprint": f"{i:064x}", "subject_id": subject, "study_id": study, "series_id": sid,
                   "uids": "{}", "details": "{}", "status": "open" if rng.random() < 0.8 else "waived"}

    t0 = time.perf_counter()
    api.copy_rows(Finding, findings())
    api.copy_rows(ImageClass, ({"id": n + 1, "series_id": sid, "collection_id": TARGET, "key": f"{sid:040x}"[:40],
                                "geometry": "line", "attributes": "{\"Modality\": \"CT\"}", "image_count": 100,
                                "reviewed": 100 if n % 3 == 0 else 0, "likely_text": n % 17 == 0}
                               for n, (sid, _, _) in enumerate(series)))
    with connection.cursor() as cur:
        for model in (Finding, ImageClass):
            table = model._meta.db_table
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    import phi_report

    phi_report.load_rows(TARGET)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    api.log(f"workspace of collection {TARGET}: {N_FINDINGS:,} findings, {len(series)} review classes, "
            f"PHI rows, in {time.perf_counter() - t0:.1f} s")
    return submission


def measure(client, label, url):
    for _ in range(3):
        response = client.get(url)
    assert response.status_code == 200, (label, url, response.status_code)
    times, response = api.timed_gets(client, url, REPS)
    p50, p95 = statistics.median(times), api.percentile(times, 95)
    api.log(f"  {label:<34} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  {len(response.content) / 1000:7.0f} KB  "
            f"{'PASS' if p95 < GOAL_MS else 'FAIL'}")
    return p95


def main():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from collections_app.models import Collection, Series
    from curation.models import Submission
    from tcia.core import roles

    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)
    if os.environ.get("BENCH_REUSE") != "1":
        api.fresh_schema()
        n, took = api.load()
        api.log(f"loaded {n:,} image rows with COPY in {took:.1f} s")
        build_workspace()
    collection = Collection.objects.get(pk=TARGET)
    submission = Submission.objects.get(collection=collection)
    user, _ = get_user_model().objects.get_or_create(username="bench-curator", defaults={"is_staff": True})
    user.groups.add(Group.objects.get_or_create(name=roles.CURATOR)[0])
    client = Client()
    client.force_login(user)
    series = Series.objects.filter(collection=collection).order_by("id").first()
    slug = collection.slug
    api.log(f"curator pages of {slug} ({collection.image_count or 50000:,} images), {REPS} requests each, goal p95 < {GOAL_MS} ms")
    pages = [
        ("submission cockpit", reverse("curation:submission", args=[submission.pk])),
        ("findings", reverse("curation:checks:findings", args=[slug])),
        ("findings, open errors", reverse("curation:checks:findings", args=[slug]) + "?status=open&severity=error"),
        ("PHI report", reverse("curation:phi:report", args=[slug])),
        ("review queue", reverse("curation:review:queue")),
        ("review, collection", reverse("curation:review:collection", args=[slug])),
        ("review, series grid", reverse("curation:review:series", args=[series.pk])),
    ]
    worst = max(measure(client, label, url) for label, url in pages)
    api.log(f"worst p95 {worst:.1f} ms: {'PASS' if worst < GOAL_MS else 'FAIL'} (goal < {GOAL_MS} ms)")


if __name__ == "__main__":
    main()
