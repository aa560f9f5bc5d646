"""Intake with real processes on the embedded default (SQLite in WAL mode, django-q2's ORM broker):
a worker killed with SIGKILL mid-batch, and web uploads, a command-line ingest and two check runs
all at once; two ingest processes racing on one study (SQLite and PostgreSQL). Each portal here
is its own database, migrated from scratch."""
import time

import pytest
from django.conf import settings

from .portal import Portal

sqlite_only = pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                                 reason="about the embedded SQLite default")

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


@sqlite_only
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


@sqlite_only
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


ONE_STUDY = """
from collections_app.models import Collection
from curation.services.submissions import create_submission
from curation.dicom.synth import SeriesSpec, build_series
from pathlib import Path
c = Collection.objects.create(slug="race", title="race", short_name="race", subject_prefix="RACE")
create_submission(collection=c)
out = Path({folder!r}, "one-study")
out.mkdir()
for key in ("s1", "s2", "s3"):
    for i, (ds, data) in enumerate(build_series(SeriesSpec("PAT-1", "Doe^One", "the-study", key, images={per_series}))):
        (out / f"{{key}}-{{i:04d}}.dcm").write_bytes(data)
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def any_portal(request, tmp_path):
    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    wanted = "postgresql" if request.param == "postgresql" else "sqlite3"
    if vendor != wanted:
        pytest.skip(f"runs in the {request.param} leg of the suite")
    p = Portal(tmp_path / "portal", postgres=request.param == "postgresql")
    p.migrate()
    yield p
    p.stop()


def test_two_workers_racing_on_one_study_file_each_image_once(any_portal):
    portal = any_portal
    per_series = 150
    portal.shell(ONE_STUDY.format(folder=str(portal.folder), per_series=per_series))
    result = portal.manage("ingest", f"{portal.folder}/one-study", "--collection", "race", "--workers", "2",
                           "--no-progress", timeout=600)
    total = 3 * per_series
    assert f"{total} files — {total} accepted" in result.stdout, result.stdout + result.stderr
    assert portal.query("SELECT COUNT(*) FROM collections_app_study")[0][0] == 1
    assert portal.query("SELECT COUNT(*) FROM collections_app_subject")[0][0] == 1
    series = portal.query("SELECT image_count FROM collections_app_series ORDER BY id")
    assert [n for (n,) in series] == [per_series] * 3
    assert portal.query("SELECT COUNT(*), COUNT(DISTINCT sop_instance_uid) FROM collections_app_image")[0] == (total, total)
    # both processes took chunks (the claims were shared, not one process doing it all)
    owners = portal.query("SELECT COUNT(DISTINCT claimed_by) FROM curation_stagedfile")[0][0]
    assert owners == 2


RECOUNT = """
from collections_app.models import Collection
from tests.phi.test_report import recount
expected, stored, absent, facets, stored_facets = recount(Collection.objects.get(slug="proc-a"))
print("PHI", len(expected), stored == expected, all(a == (0, 0) for a in absent), stored_facets == facets)
"""


@pytest.fixture
def redis_url(tmp_path):
    import shutil
    import socket
    import subprocess

    if not shutil.which("redis-server"):
        pytest.skip("redis-server (Debian package redis-server) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
                    reason="two machines share a PostgreSQL server")
def test_two_clusters_on_redis_share_a_batch_and_one_is_killed(tmp_path, redis_url):
    """Two 'machines': each its own local folder, sharing PostgreSQL, Redis and the storage
    (an S3 bucket when TCIA_TEST_S3_ENDPOINT sets one up, else one shared folder)."""
    portal = Portal(tmp_path / "shared", postgres=True, TCIA_Q_REDIS=redis_url, TCIA_INTAKE_LEASE_SECONDS=15,
                    TCIA_INTAKE_CHUNK_FILES=25)
    try:
        portal.migrate()
        count = 300
        portal.shell(SETUP.format(folder=str(portal.folder), count=count))
        batch = int(portal.shell(STAGE.format(folder=str(portal.folder)).replace(
            "staging.close(batch)", "[staging.close(batch) for _ in range(4)]")).strip().splitlines()[-1])
        machines = []
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            machines.append(portal.start_cluster(f"worker-{name}.log", TCIA_VAR_DIR=str(tmp_path / name)))
        portal.wait_for(BATCH.format(batch), lambda rows: rows and rows[0][2] >= 60, timeout=240, every=0.1)
        portal.kill(machines[0])
        row = portal.wait_for(BATCH.format(batch), finished, timeout=300)[0]
        assert row == ("done", count, count, count, 0, 0, 0), row
        assert portal.query("SELECT COUNT(*), COUNT(DISTINCT sop_instance_uid) FROM collections_app_image")[0] == (count, count)
        assert portal.query("SELECT COUNT(*), COUNT(DISTINCT staged_id) FROM curation_intakeitem WHERE batch_id = ?",
                            batch)[0] == (count, count)
        assert portal.query("SELECT SUM(image_count) FROM collections_app_series")[0][0] == count
        owners = portal.query("SELECT COUNT(DISTINCT claimed_by) FROM curation_stagedfile WHERE batch_id = ?", batch)[0][0]
        assert owners >= 2  # both machines took chunks
        assert "PHI" in (out := portal.shell(RECOUNT)) and out.split("PHI", 1)[1].split()[1:] == ["True", "True", "True"], out
    finally:
        portal.stop()
