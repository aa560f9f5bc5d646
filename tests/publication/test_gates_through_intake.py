"""Nothing is published before review, PHI sign-off, no open error finding and a good enough
de-identification self-score: a collection taken through intake is refused publication by each
gate alone (every other condition met), and publishes once that one is met too.

Each case goes red when its gate's registration (in curation/review, curation/phi, curation/checks
apps.py) is removed: the collection would then publish while the condition is unmet."""
import pytest
from django.test import override_settings

from collections_app.models import CollectionVersion
from collections_app.services.publish import PublishBlocked, publish
from curation.checks.models import Finding
from curation.checks.services import waive
from curation.phi.services import sign_off
from curation.review import services as review
from tests.checks.builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


def review_everything(collection, curator):
    for s in collection.series.all():
        review.accept_series(series=s, actor=curator, expected=review.unreviewed_images(s).count())


def sign(collection, curator):
    sign_off(collection=collection, actor=curator, statement="every value reviewed")


def plant_error(collection):
    return Finding.objects.create(collection=collection, check_name="dciodvfy", severity=Finding.Severity.ERROR,
                                  scope=Finding.Scope.COLLECTION, message="Error - Missing attribute Type 1 (planted)",
                                  fingerprint="f" * 64)


def refusals(collection, curator) -> list[str]:
    with pytest.raises(PublishBlocked) as blocked:
        publish(collection, actor=curator)
    return [f.message for f in blocked.value.failures]


# (what is left unmet, the phrase its refusal says, how to meet it)
CASES = {
    "review": ("review", lambda c, u, f: review_everything(c, u)),
    "phi": ("PHI report has not been signed off", lambda c, u, f: sign(c, u)),
    "finding": ("open error finding", lambda c, u, f: waive(findings=[f], actor=u, reason="a false alarm")),
    "selfscore": ("self-score", None),
}


@pytest.mark.parametrize("unmet", list(CASES))
def test_each_gate_alone_refuses_publication_then_it_publishes(unmet, curator):
    submission = make_submission(slug=f"gate-{unmet}", prefix="GT")
    ingest(submission, [d for d, _ in series("PAT-A", "s1", "a1", images=3, series_description="Chest")])
    c = submission.collection
    if unmet != "review":
        review_everything(c, curator)
    finding = plant_error(c) if unmet == "finding" else None
    if unmet != "phi":
        sign(c, curator)
    phrase, meet = CASES[unmet]
    threshold = 101 if unmet == "selfscore" else 99  # nothing scores above 100: only this gate can refuse
    with override_settings(TCIA_DEID_MIN_SCORE=threshold):
        messages = refusals(c, curator)
    assert messages and all(phrase in m for m in messages), messages  # that gate's refusals, no other
    assert not CollectionVersion.objects.filter(collection=c).exists()
    if meet is not None:
        meet(c, curator, finding)
    with override_settings(TCIA_DEID_MIN_SCORE=99):
        version = publish(c, actor=curator)
    assert version.number == 1 and version.image_count == 3
