"""Corrections all or nothing where they really run: in the request with TCIA_Q_SYNC=1 (tasks
run on commit, inside the web process) and in django-q2 workers (qcluster processes); on the
database the suite runs on (SQLite or PostgreSQL)."""
import textwrap

import pytest
from django.conf import settings
from django.core.files.storage import storages

from collections_app.models import Image, StoredFile
from curation.checks.models import Finding
from curation.checks.services import run_checks
from curation.models import Correction, CorrectionFile
from curation.services.corrections import read_image_dataset
from tests.curation.portal import Portal

from .builders import ingest, make_submission, series


def archive_files():
    storage = storages["archive"]
    root = getattr(storage, "location", None)
    if root is None:
        return None
    import os

    return {os.path.join(d, f) for d, _, names in os.walk(root) for f in names}


@pytest.mark.django_db(transaction=True)
def test_sync_mode_a_failing_fix_from_the_page_switches_nothing_then_a_retry_applies_it(curator_client, monkeypatch):
    from django_q.conf import Conf

    assert Conf.SYNC, "tests run with TCIA_Q_SYNC=1"
    submission = make_submission(slug="sync-fix", prefix="SYNC")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=5, series_description="Chest")]
    files[1].SeriesDescription = files[3].SeriesDescription = "Chets"  # 3 to 2: a majority
    ingest(submission, files)
    collection = submission.collection
    run_checks(collection=collection, checks=["consistency_series"])
    finding = Finding.objects.get(collection=collection, check_name="consistency_series")
    before = dict(Image.objects.values_list("pk", "stored_file_id"))
    stored_before, on_disk = StoredFile.objects.count(), archive_files()

    from curation.services import corrections

    real = corrections.reindex_image
    calls = []

    def reindex(**kw):  # the second image fails, after the first was switched (inside the transaction)
        calls.append(kw["image"].pk)
        if len(calls) == 2:
            raise RuntimeError("OperationalError: Cannot operate on a closed database.")
        return real(**kw)

    monkeypatch.setattr(corrections, "reindex_image", reindex)
    response = curator_client.post(f"/curation/checks/findings/{finding.pk}/action/", {"action": "fix", "reason": "typo"})
    correction = Correction.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/corrections/{correction.pk}/")
    assert len(calls) == 2 and correction.state == "failed"
    assert dict(Image.objects.values_list("pk", "stored_file_id")) == before
    assert StoredFile.objects.count() == stored_before and not CorrectionFile.objects.exists()
    if on_disk is not None:
        assert archive_files() == on_disk  # the two new files are gone again
    page = curator_client.get(response["Location"]).content.decode()
    assert "nothing was changed" in page and "Retry" in page
    assert "OperationalError" not in page and "closed database" not in page
    assert Finding.objects.get(pk=finding.pk).status == "open"

    monkeypatch.setattr(corrections, "reindex_image", real)
    retried = curator_client.post(f"/curation/checks/corrections/{correction.pk}/retry/")
    assert retried.status_code == 302
    correction.refresh_from_db()
    assert correction.state == "applied" and correction.files.count() == 2 and correction.error == ""
    assert {read_image_dataset(i).SeriesDescription for i in Image.objects.all()} == {"Chest"}
    assert Finding.objects.get(pk=finding.pk).status == "fixed"


SETUP = textwrap.dedent("""
    from pydicom.dataelem import DataElement
    from collections_app.models import Image
    from curation.checks.models import Finding
    from curation.checks.services import run_checks, start_correction
    from curation.models import Correction
    from django.db import transaction
    from tests.checks.builders import ingest, make_submission, series
    submission = make_submission(slug="workers", prefix="WORK")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=4)]
    for n, d in enumerate(files):
        del d.SliceThickness
        d.add(DataElement(0x00180050, "LO", "not a number" if n == 2 else "1.5"))  # DS sent as LO
    ingest(submission, files)
    c = submission.collection
    images = list(Image.objects.filter(series__collection=c).order_by("pk"))
    with transaction.atomic():  # 1: the third image's value cannot be a DS: fails mid-way
        bad = start_correction(collection=c, spec={{"op": "fix_vr", "path": "SliceThickness",
                               "images": [i.pk for i in images]}}, actor=None, reason="vr", kind="fix")
    print("BAD", bad.pk)
""")

GOOD = textwrap.dedent("""
    from collections_app.models import Image
    from curation.checks.services import start_correction
    from django.db import transaction
    from collections_app.models import Collection
    c = Collection.objects.get(slug="workers")
    images = [i.pk for i in Image.objects.filter(series__collection=c).order_by("pk")]
    with transaction.atomic():  # 2: the others only: applies
        good = start_correction(collection=c, spec={{"op": "fix_vr", "path": "SliceThickness",
                                "images": images[:2] + images[3:]}}, actor=None, reason="vr", kind="fix")
    print("GOOD", good.pk)
""")

STATE = "SELECT state, error, done, total FROM curation_correction WHERE id = {}"
INDEX = "SELECT id, stored_file_id FROM collections_app_image ORDER BY id"


@pytest.fixture
def worker_portal(tmp_path):
    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    p = Portal(tmp_path / "portal", postgres=vendor == "postgresql")
    p.migrate()
    yield p
    p.stop()


def test_in_workers_a_correction_failing_mid_way_switches_nothing(worker_portal):
    portal = worker_portal
    out = portal.shell(SETUP.format())
    bad = int(out.split("BAD")[-1].split()[0])
    index = portal.query(INDEX)
    files = portal.query("SELECT COUNT(*) FROM collections_app_storedfile")[0][0]
    storage = portal.folder / "storage"

    def archive():  # what the workers render for review (thumbnails) is not the archive's
        return {p for p in storage.rglob("*") if p.is_file() and "derived" not in p.relative_to(storage).parts}

    on_disk = archive()
    portal.start_cluster()
    state, error, done, total = portal.wait_for(STATE.format(bad), lambda r: r and r[0][0] in ("applied", "failed"))[0]
    assert state == "failed" and done == 2 and total == 4  # two new files written, then the third failed
    assert "nothing was changed" in error and "ValueError" not in error and "not a number" not in error
    assert portal.query(INDEX) == index
    assert portal.query("SELECT COUNT(*) FROM collections_app_storedfile")[0][0] == files
    assert portal.query("SELECT COUNT(*) FROM curation_correctionfile")[0][0] == 0
    assert archive() == on_disk  # the two new files were removed
    good = int(portal.shell(GOOD.format()).split("GOOD")[-1].split()[0])
    state, error, done, total = portal.wait_for(STATE.format(good), lambda r: r and r[0][0] in ("applied", "failed"))[0]
    assert (state, error) == ("applied", "")
    changed = [a != b for a, b in zip(portal.query(INDEX), index)]
    assert changed == [True, True, False, True]


@pytest.mark.django_db
def test_a_queue_that_fails_leaves_a_failed_correction_and_a_message(curator_client, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    """With TCIA_Q_SYNC=1 the task runs inside the request: if the queue itself fails (here: the
    error the walk-through met), the curator gets the correction page with a message, not a 500."""
    import django_q.tasks
    from django.db import OperationalError

    submission = make_submission(slug="sync-queue", prefix="SQ")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=3, series_description="Chest")]
    files[1].SeriesDescription = "Chets"
    ingest(submission, files)
    run_checks(collection=submission.collection, checks=["consistency_series"])
    finding = Finding.objects.get(collection=submission.collection, check_name="consistency_series")

    def closed(*args, **kwargs):
        raise OperationalError("Cannot operate on a closed database.")

    monkeypatch.setattr(django_q.tasks, "async_task", closed)
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(f"/curation/checks/findings/{finding.pk}/action/", {"action": "fix", "reason": "t"})
    correction = Correction.objects.get()
    assert response.status_code == 302 and correction.state == "failed" and not correction.files.exists()
    page = curator_client.get(response["Location"]).content.decode()
    assert "could not be started" in page and "Retry" in page and "closed database" not in page
