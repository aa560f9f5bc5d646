"""Intake with real processes on the embedded default (SQLite in WAL mode, django-q2's ORM broker):
a worker killed with SIGKILL mid-batch, and web uploads, a command-line ingest and two check runs
all at once. Each portal here is its own SQLite file, migrated from scratch."""
import time

import pytest
from django.conf import settings

from .portal import Portal

pytestmark = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                                reason="these tests are about the embedded SQLite default")

SETUP = """
from collections_app.models import Collection
from curation.services.submissions import create_submission
from curation.dicom.synth import write_corpus
for slug, prefix in (("proc-a", "PROCA"), ("proc-b", "PROCB")):
    c = Collection.objects.create(slug=slug, title=slug, short_name=slug, subject_prefix=prefix)
    create_submission(collection=c)
write_corpus({folder!r} + "/a", {count}, patients=6, large_share=0.0)
write_corpus({folder!r} + "/b", {count}, patients=6, large_share=0.0)
"""

STAGE = """
from pathlib import Path
from curation.models import Submission
from curation.services import staging
submission = Submission.objects.get(collection__slug="proc-a")
batch = staging.open_batch(submission=submission, source="upload")
for path in sorted(Path({folder!r}, "a").rglob("*.dcm")):
    staging.stage(batch, name=path.name, data=path.read_bytes())
staging.close(batch)
print(batch.pk)
"""

UPLOAD = """
from pathlib import Path
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from tcia.core import roles
from django.contrib.auth.models import Group
from curation.models import Submission
user = get_user_model().objects.create_user("uploader", password="x", is_staff=True)
user.groups.add(Group.objects.get_or_create(name=roles.CURATOR)[0])
client = Client()
client.force_login(user)
submission = Submission.objects.get(collection__slug="proc-a")
paths = sorted(Path({folder!r}, "a").rglob("*.dcm"))
url = f"/curation/submissions/{{submission.pk}}/upload/"
batch = None
for start in range(0, len(paths), 40):
    files = {{f"file:k{{n}}": SimpleUploadedFile(p.name, p.read_bytes()) for n, p in enumerate(paths[start:start + 40], start)}}
    data = {{"more": "1", **files}}
    if batch:
        data["batch"] = str(batch)
    response = client.post(url, data, HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert response.status_code == 200, response.content[:500]
    batch = response.json()["batch"]
assert client.post(f"/curation/batches/{{batch}}/close/").status_code == 200
print(batch)
"""

BATCH = "SELECT state, total, processed, accepted, unchanged, failed, rejected FROM curation_intakebatch WHERE id = {}"


def finished(rows):
    return rows and rows[0][0] in ("done", "failed")


@pytest.fixture
def portal(tmp_path):
    p = Portal(tmp_path / "portal", TCIA_INTAKE_LEASE_SECONDS=600)
    p.migrate()
    yield p
    p.stop()


def test_a_worker_killed_mid_batch_leaves_a_batch_that_resumes_with_no_file_twice(portal):
    count = 240
    portal.shell(SETUP.format(folder=str(portal.folder), count=count))
    batch = int(portal.shell(STAGE.format(folder=str(portal.folder))).strip().splitlines()[-1])
    cluster = portal.start_cluster("worker-1.log")
    # Let it take part of the batch, then kill every process of the cluster at once.
    portal.wait_for(BATCH.format(batch), lambda rows: rows and rows[0][2] >= 40, timeout=240, every=0.05)
    portal.kill(cluster)
    state, total, processed, *_ = portal.query(BATCH.format(batch))[0]
    assert state == "running" and 0 < processed < total == count, (state, processed, total)
    # The lease (600 s) has not expired; the restarted cluster sees its holder is dead and goes on.
    portal.start_cluster("worker-2.log")
    state, total, processed, accepted, unchanged, failed, rejected = portal.wait_for(
        BATCH.format(batch), finished, timeout=300)[0]
    assert (state, total, processed, accepted, unchanged, failed, rejected) == ("done", count, count, count, 0, 0, 0)
    images = portal.query("SELECT COUNT(*), COUNT(DISTINCT sop_instance_uid) FROM collections_app_image")[0]
    assert images == (count, count)
    items = portal.query("SELECT COUNT(*), COUNT(DISTINCT name) FROM curation_intakeitem WHERE batch_id = ?", batch)[0]
    assert items == (count, count)
    assert portal.query("SELECT COUNT(*) FROM curation_stagedfile WHERE state = 'waiting'")[0][0] == 0
    series_total = portal.query("SELECT SUM(image_count) FROM collections_app_series")[0][0]
    assert series_total == count  # counters were not bumped twice by the file the killed worker had in hand


def test_uploads_ingest_and_two_check_runs_at_once_never_fail_on_locks(portal):
    count = 160
    folder = str(portal.folder)
    portal.shell(SETUP.format(folder=folder, count=count))
    portal.start_cluster()
    ingest = portal.start("ingest", f"{folder}/b", "--collection", "proc-b", "--no-progress", log="ingest.log")
    upload = portal.start("shell", "-c", UPLOAD.format(folder=folder), log="upload.log")
    time.sleep(3)
    checks = [portal.start("run_checks", "--collection", "proc-b", log=f"checks-{n}.log") for n in (1, 2)]
    for proc in [ingest, upload, *checks]:
        assert proc.wait(timeout=400) == 0, (portal.folder / "ingest.log").read_text()[-2000:]
    batches = portal.wait_for("SELECT state, total, processed, accepted, failed FROM curation_intakebatch ORDER BY id",
                              lambda rows: len(rows) == 2 and all(r[0] == "done" for r in rows), timeout=300)
    assert sorted(tuple(r[1:]) for r in batches) == [(count, count, count, 0)] * 2
    runs = portal.query("SELECT state, error FROM checks_checkrun")
    assert [r[0] for r in runs] == ["done", "done"], runs
    logs = " ".join(p.read_text() for p in portal.folder.glob("*.log"))
    assert "database is locked" not in logs and "OperationalError" not in logs
