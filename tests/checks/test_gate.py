"""The checks publication gate, through the real publish service: a collection that came through
intake with an open error finding is refused; waiving the finding lifts this gate."""
import pytest
from django.urls import reverse

from collections_app.models import CollectionVersion
from collections_app.services.publish import PublishBlocked, gate_failures, publish
from curation.checks.models import Finding
from curation.checks.services import run_checks, waive

from .builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


def checks_failures(failures, collection):
    url = reverse("curation:checks:findings", args=[collection.slug])
    return [f for f in failures if f.url.startswith(url)]


def test_an_open_error_finding_refuses_publication(curator):
    submission = make_submission(slug="gated", prefix="GATE")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=3)]
    del files[1].ImageType  # dciodvfy: a Type 1 attribute missing, an error
    ingest(submission, files)
    collection = submission.collection
    run_checks(collection=collection, checks=["dciodvfy"])
    errors = list(Finding.objects.filter(collection=collection, status="open", severity="error"))
    assert errors
    with pytest.raises(PublishBlocked) as blocked:
        publish(collection, actor=curator)
    [failure] = checks_failures(blocked.value.failures, collection)
    n = len(errors)
    assert failure.message.startswith(f"{n} open error finding") and "severity=error" in failure.url
    assert not CollectionVersion.objects.filter(collection=collection).exists()
    # A warning does not block; waiving the errors lifts this gate (the others still judge).
    waive(findings=errors, actor=curator, reason="accepted by the submitter's site")
    assert checks_failures(gate_failures(collection), collection) == []


def test_the_cockpit_shows_the_checks_step_and_its_runs(curator):
    from curation import cockpit

    submission = make_submission(slug="cockpit-checks", prefix="CKC")
    files = [d for d, _ in series("PAT-A", "st", "ct", images=3)]
    del files[1].ImageType
    ingest(submission, files)
    assert {s.key: s for s in cockpit.steps(submission)}["checks"].state == cockpit.WAITING
    run_checks(collection=submission.collection, checks=["dciodvfy"])
    errors = Finding.objects.filter(collection=submission.collection, status="open", severity="error").count()
    step = {s.key: s for s in cockpit.steps(submission)}["checks"]
    assert step.state == cockpit.BLOCKED and step.summary.startswith(f"{errors} open error")
    assert any(e.kind == "checks" for e in cockpit.timeline(submission))
