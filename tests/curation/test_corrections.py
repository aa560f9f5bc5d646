import pytest

from collections_app.models import Image, Series
from collections_app.services.storage import verify
from curation.models import Correction
from curation.services.corrections import Change, apply_correction, read_image_dataset, undo
from curation.services.intake import Intake, start_batch
from tcia.core.models import AuditEvent

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db


def set_attr(keyword, value):
    def mutate(ds, image):
        old = str(ds.get(keyword, ""))
        if old == value:
            return []
        setattr(ds, keyword, value)
        return [Change(keyword, old, value)]

    return mutate


@pytest.fixture
def ingested():
    submission = make_submission()
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    for n in range(3):
        intake.take(sample_bytes(SOPInstanceUID=f"1.2.3.4.{n}", InstanceNumber=n + 1), f"{n}.dcm")
    intake.finish()
    return submission


def test_a_tag_edit_writes_new_files_updates_the_index_and_audits(ingested, curator):
    images = list(Image.objects.all())
    old_files = {i.pk: i.stored_file for i in images}
    correction = apply_correction(
        collection=ingested.collection, images=images, mutate=set_attr("SeriesDescription", "Chest CT corrected"),
        actor=curator, reason="site sent a wrong description", kind="tag_edit", summary="SeriesDescription", scope="series",
    )
    assert correction.state == "applied" and correction.files.count() == 3
    for image in Image.objects.all():
        assert image.stored_file_id != old_files[image.pk].pk
        assert read_image_dataset(image).SeriesDescription == "Chest CT corrected"
        assert verify(old_files[image.pk])  # the old bytes are untouched
        assert read_image_dataset(image, old_files[image.pk]).get("SeriesDescription") != "Chest CT corrected"
    assert Series.objects.get().series_description == "Chest CT corrected"
    event = AuditEvent.objects.get(action="correction.tag_edit")
    assert event.actor == curator and event.reason == "site sent a wrong description"
    assert event.data["files"] == 3
    assert event.data["changes"][0]["changes"][0]["new"] == "Chest CT corrected"


def test_undo_is_a_new_correction_restoring_the_old_bytes(ingested, curator):
    images = list(Image.objects.all())
    before = {i.pk: i.stored_file_id for i in images}
    first = apply_correction(collection=ingested.collection, images=images, mutate=set_attr("SeriesDescription", "X"),
                             actor=curator, reason="r", kind="tag_edit", summary="s")
    reverse = undo(correction=first, actor=curator, reason="that was wrong")
    assert reverse.kind == "undo" and reverse.undoes == first
    assert {i.pk: i.stored_file_id for i in Image.objects.all()} == before
    assert Series.objects.get().series_description != "X"
    assert Correction.objects.count() == 2  # nothing was deleted
    assert AuditEvent.objects.filter(action="correction.undo", reason="that was wrong").exists()


def test_changing_the_series_uid_moves_the_image_and_keeps_counts(ingested, curator):
    image = Image.objects.order_by("instance_number").first()
    apply_correction(collection=ingested.collection, images=[image], mutate=set_attr("SeriesInstanceUID", "1.2.3.999"),
                     actor=curator, reason="split series", kind="tag_edit", summary="move")
    counts = dict(Series.objects.values_list("series_instance_uid", "image_count"))
    assert counts["1.2.3.999"] == 1
    assert sum(counts.values()) == 3
    ingested.collection.refresh_from_db()
    assert ingested.collection.series_count == 2 and ingested.collection.image_count == 3


def test_a_correction_without_a_reason_is_refused(ingested, curator):
    with pytest.raises(ValueError, match="reason"):
        apply_correction(collection=ingested.collection, images=Image.objects.all(), mutate=set_attr("SeriesDescription", "x"),
                         actor=curator, reason=" ", kind="tag_edit", summary="s")
