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


# ── all or nothing ─────────────────────────────────────────────────────────────────────────

SECRET = "Doe^Secret-in-the-exception"


class Written:
    """Records the blobs a correction writes (wrapping the real write_blob)."""

    def __init__(self, monkeypatch):
        from curation.services import corrections

        self.shas = []
        real = corrections.write_blob

        def write(data):
            digest = real(data)
            self.shas.append(digest.sha256)
            return digest

        monkeypatch.setattr(corrections, "write_blob", write)

    def left_in_storage(self):
        from django.core.files.storage import storages

        from collections_app.services.storage import storage_name_for

        return [sha for sha in self.shas if storages["archive"].exists(storage_name_for(sha))]


def failing_on(n, mutate):
    """`mutate`, raising on the n-th image it sees (an exception whose text quotes a value)."""
    seen = []

    def wrapped(ds, image):
        seen.append(image.pk)
        if len(seen) == n:
            raise RuntimeError(f"cannot write {SECRET}")
        return mutate(ds, image)

    return wrapped


def state_of_index():
    from collections_app.models import StoredFile
    from curation.models import CorrectionFile

    return ({i.pk: i.stored_file_id for i in Image.objects.all()}, StoredFile.objects.count(),
            CorrectionFile.objects.count(), list(Series.objects.values_list("series_description", flat=True)))


def test_a_failure_while_writing_switches_nothing_and_removes_the_new_files(ingested, curator, monkeypatch):
    from curation.services.corrections import CorrectionFailed

    written = Written(monkeypatch)
    before = state_of_index()
    with pytest.raises(CorrectionFailed) as raised:
        apply_correction(collection=ingested.collection, images=Image.objects.order_by("pk"),
                         mutate=failing_on(3, set_attr("SeriesDescription", "Rewritten")), actor=curator,
                         reason="r", kind="tag_edit", summary="s")
    assert len(written.shas) == 2  # two new files were written before the third image failed
    assert state_of_index() == before
    assert written.left_in_storage() == []
    correction = Correction.objects.get()
    assert correction.state == "failed" and SECRET not in correction.error and "RuntimeError" not in correction.error
    assert "nothing was changed" in correction.error and SECRET not in raised.value.message
    assert not AuditEvent.objects.filter(action="correction.tag_edit").exists()


def test_a_failure_while_switching_the_index_rolls_every_image_back(ingested, curator, monkeypatch):
    from curation.services import corrections
    from curation.services.corrections import CorrectionFailed

    written = Written(monkeypatch)
    real = corrections.reindex_image
    calls = []

    def reindex(**kw):
        calls.append(kw["image"].pk)
        if len(calls) == 2:
            raise RuntimeError(SECRET)
        return real(**kw)

    monkeypatch.setattr(corrections, "reindex_image", reindex)
    before = state_of_index()
    with pytest.raises(CorrectionFailed):
        apply_correction(collection=ingested.collection, images=Image.objects.order_by("pk"),
                         mutate=set_attr("SeriesDescription", "Rewritten"), actor=curator, reason="r",
                         kind="tag_edit", summary="s")
    assert len(calls) == 2 and len(written.shas) == 3  # all written, one image switched, then the failure
    assert state_of_index() == before
    assert written.left_in_storage() == []
    assert "Rewritten" not in {read_image_dataset(i).get("SeriesDescription") for i in Image.objects.all()}


def test_bytes_another_file_already_has_are_not_removed(ingested, curator, monkeypatch):
    """A failed correction whose new bytes equal an existing stored file leaves that file alone."""
    from collections_app.models import StoredFile
    from collections_app.services.storage import verify
    from curation.services.corrections import CorrectionFailed

    first = apply_correction(collection=ingested.collection, images=Image.objects.order_by("pk")[:1],
                             mutate=set_attr("SeriesDescription", "Same"), actor=curator, reason="r",
                             kind="tag_edit", summary="s")
    kept = first.files.get().new_file
    undo(correction=first, actor=curator, reason="back")
    with pytest.raises(CorrectionFailed):
        apply_correction(collection=ingested.collection, images=Image.objects.order_by("pk"),
                         mutate=failing_on(2, set_attr("SeriesDescription", "Same")), actor=curator, reason="r",
                         kind="tag_edit", summary="s")
    assert StoredFile.objects.filter(pk=kept.pk).exists() and verify(kept)
