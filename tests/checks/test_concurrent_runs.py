"""Two check runs of one collection at once (two curators pressing "Run checks", or the button
and the command): both finish, and the findings are one set, not two."""
import threading

import pytest
from django.db import connection

from curation.checks.models import CheckRun, Finding
from curation.checks.services import run_checks

from .builders import ingest, make_submission, series


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_both_finish_with_one_set_of_findings():
    submission = make_submission(slug="two-runs", prefix="TWO")
    desc = [d for d, _ in series("PAT-A", "st", "se", images=6, series_description="Chest")]
    for i in (1, 3):
        desc[i].SeriesDescription = f"Chest typo {i}"
    del desc[4]
    ingest(submission, desc)
    errors = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            run_checks(collection=submission.collection, checks=["consistency_series", "geometry", "duplicate_sop"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert list(CheckRun.objects.values_list("state", flat=True)) == ["done", "done"]
    fingerprints = list(Finding.objects.filter(collection=submission.collection).values_list("fingerprint", flat=True))
    assert fingerprints and len(fingerprints) == len(set(fingerprints))
