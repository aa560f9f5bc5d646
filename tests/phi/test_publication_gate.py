"""A collection taken through intake is refused publication by its PHI report alone: first
unsigned, then signed and changed afterwards (invalidated); it publishes once signed again. Every
other gate (review, findings, self-score) passes meanwhile, so each refusal is the PHI report's."""
import pytest

from collections_app.models import CollectionVersion, Image
from collections_app.services.publish import PublishBlocked, gate_failures, publish
from curation.phi.services import sign_off
from curation.services.corrections import Change, apply_correction
from tests.checks.builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


def review_everything(collection, curator):
    """Every image gets an OK verdict (the review gate's condition)."""
    from curation.review import services as review

    for s in collection.series.all():
        review.accept_series(series=s, actor=curator, expected=review.unreviewed_images(s).count())


def refused(collection, curator):
    with pytest.raises(PublishBlocked) as blocked:
        publish(collection, actor=curator)
    return [f.message for f in blocked.value.failures]


def test_the_phi_report_alone_blocks_publication_until_signed(curator):
    submission = make_submission(slug="phi-gate", prefix="PGT")
    ingest(submission, [d for d, _ in series("PAT-A", "s1", "a1", images=3, series_description="Chest")])
    c = submission.collection
    review_everything(c, curator)

    # 1. unsigned: the only failure
    messages = refused(c, curator)
    assert len(messages) == 1 and "PHI report has not been signed off" in messages[0], messages

    # 2. signed, then a correction changes a value: invalidated, the only failure
    sign_off(collection=c, actor=curator, statement="reviewed")
    assert gate_failures(c) == []
    image = Image.objects.filter(series__collection=c).order_by("pk").first()

    def retitle(ds, im):
        ds.SeriesDescription = "Thorax"
        return [Change("SeriesDescription", "Chest", "Thorax")]

    apply_correction(collection=c, images=[image], mutate=retitle, actor=curator, reason="typo", kind="tag_edit",
                     summary="SeriesDescription := Thorax")
    review_everything(c, curator)
    messages = refused(c, curator)
    assert len(messages) == 1 and "sign-off was invalidated" in messages[0], messages
    assert not CollectionVersion.objects.filter(collection=c).exists()

    # 3. signed again: published
    sign_off(collection=c, actor=curator, statement="reviewed the change")
    version = publish(c, actor=curator)
    assert version.collection_id == c.pk and CollectionVersion.objects.filter(collection=c).count() == 1
