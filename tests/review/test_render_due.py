"""Review rendering is queued once a batch is done (or every RENDER_EVERY seconds of a long one),
not per chunk: each class is rendered once per batch, from every image it holds; what is due
is in the database, so a batch that never finished leaves nothing behind."""
import pytest
from django.db.models import F

from curation.review import derived, hooks, tasks
from curation.review.models import ClassMember, ImageClass, TextDetection
from curation.services.intake import Intake, start_batch
from tests.curation.intake_helpers import make_submission

from .helpers import ct_series_bytes, us_text_bytes


@pytest.fixture
def renders(monkeypatch):
    """Class ids render_class was called with, in order (the real one still runs)."""
    calls = []
    real = tasks.render_class

    def counting(class_id):
        calls.append(class_id)
        return real(class_id)

    monkeypatch.setattr(tasks, "render_class", counting)
    return calls


def _chunks(intake, files, size):
    for start in range(0, len(files), size):
        taken = intake.take_many([(data, f"f{start + i}.dcm", None) for i, data in enumerate(files[start:start + size])])
        assert all(x.outcome == "accepted" for x in taken), [(x.outcome, x.reason) for x in taken]


def _due(collection):
    return set(ImageClass.objects.filter(collection=collection).exclude(rendered_count=F("image_count"))
               .values_list("pk", flat=True))


@pytest.mark.django_db
def test_each_class_rendered_once_per_batch_from_all_its_images(renders, django_capture_on_commit_callbacks):
    submission = make_submission(slug="render-once", prefix="RNO")
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    ct, us = ct_series_bytes(9), us_text_bytes(3)
    with django_capture_on_commit_callbacks(execute=True):
        _chunks(intake, ct[:3] + us[:1] + ct[3:6] + us[1:] + ct[6:], 3)  # 4 chunks feed each class
        classes = ImageClass.objects.filter(collection=submission.collection)
        assert classes.count() == 2
        # nothing rendered or OCRed while the batch goes on; all of it is due
        assert renders == [] and not TextDetection.objects.exists()
        assert _due(submission.collection) == set(classes.values_list("pk", flat=True))
        assert ClassMember.objects.filter(needs_ocr=True).count() == 3  # the US images
        intake.finish()
    assert sorted(renders) == sorted(classes.values_list("pk", flat=True)), "a class was rendered more than once"
    assert sorted(classes.values_list("image_count", flat=True)) == [3, 9]
    for cls in classes:
        shas = [m.image.stored_file.sha256 for m in cls.members.select_related("image__stored_file")]
        assert cls.rendered_count == cls.image_count == len(shas)
        assert cls.montage_key == derived.montage_key(shas)
        assert derived.storage().exists(derived.montage_name(cls.montage_key))
    assert TextDetection.objects.count() == 3 and not ClassMember.objects.filter(needs_ocr=True).exists()
    assert not _due(submission.collection)


@pytest.mark.django_db
def test_a_batch_that_never_finished_is_rendered_by_the_next_one(renders, django_capture_on_commit_callbacks):
    submission = make_submission(slug="render-later", prefix="RNL")
    lost = Intake(submission, start_batch(submission=submission, source="cli"))
    with django_capture_on_commit_callbacks(execute=True):
        _chunks(lost, ct_series_bytes(4, patient="P1") + us_text_bytes(2, patient="P1"), 3)
        # the worker died here: no finish. The next batch of the collection renders what it left.
        lost.close()
        later = Intake(submission, start_batch(submission=submission, source="cli"))
        _chunks(later, ct_series_bytes(2, patient="P2"), 2)
        later.finish()
    classes = ImageClass.objects.filter(collection=submission.collection)
    assert classes.count() == 3 and sorted(renders) == sorted(classes.values_list("pk", flat=True))
    assert not _due(submission.collection) and TextDetection.objects.count() == 2


@pytest.mark.django_db
def test_a_long_batch_queues_what_is_due_every_render_every_seconds(renders, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    clock = [1000.0]
    monkeypatch.setattr(hooks.time, "monotonic", lambda: clock[0])
    submission = make_submission(slug="render-long", prefix="RNG")
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    files = ct_series_bytes(8)

    def chunk_at(at, part):
        clock[0] = 1000.0 + at
        with django_capture_on_commit_callbacks(execute=True):  # the chunk's tasks run once it commits
            _chunks(intake, part, len(part))

    for step, at in enumerate((0, 30, 59)):  # the run starts; under RENDER_EVERY since
        chunk_at(at, files[step * 2:step * 2 + 2])
    assert renders == []
    chunk_at(hooks.RENDER_EVERY + 1, files[6:7])
    (cls,) = ImageClass.objects.filter(collection=submission.collection)
    assert renders == [cls.pk]
    cls.refresh_from_db()
    assert cls.rendered_count == cls.image_count == 7
    chunk_at(4 * hooks.RENDER_EVERY + 1, files[7:])  # after a pause: a new run, nothing queued by its first chunk
    assert renders == [cls.pk]
    with django_capture_on_commit_callbacks(execute=True):
        intake.finish()
    cls.refresh_from_db()
    assert renders == [cls.pk, cls.pk] and cls.rendered_count == 8


@pytest.mark.django_db
def test_an_image_that_joins_during_a_render_leaves_the_class_due(django_capture_on_commit_callbacks, monkeypatch):
    submission = make_submission(slug="render-race", prefix="RNR")
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    files = ct_series_bytes(4)
    _chunks(intake, files[:3], 3)
    (cls,) = ImageClass.objects.filter(collection=submission.collection)
    real = derived.montage

    def montage_then_a_new_image(stored):
        out = real(stored)
        _chunks(intake, files[3:], 1)  # committed after the render read its members
        return out

    monkeypatch.setattr(derived, "montage", montage_then_a_new_image)
    assert tasks.render_class(cls.pk)
    cls.refresh_from_db()
    assert (cls.rendered_count, cls.image_count) == (3, 4)
    assert _due(submission.collection) == {cls.pk}
    monkeypatch.setattr(derived, "montage", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert hooks.queue_due(submission.collection_id) == 1
    cls.refresh_from_db()
    assert cls.rendered_count == 4 and not _due(submission.collection)
