"""Each collection owns its objects, and one instance is one image: the same originals in two
collections are two sets of objects; a resend in another encoding changes nothing; only other
content is a conflict (kept beside the image, flagged, resolvable)."""
import copy
import io

import pydicom
import pytest
from django.core.management import call_command
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from collections_app.models import Collection, Image, Series, Status, Study, Subject
from curation.checks.models import Finding
from curation.checks.services import apply_fix, run_checks
from curation.models import ConflictingFile
from curation.services.corrections import undo
from curation.services.intake import Intake, start_batch

from .intake_helpers import make_submission

pytestmark = pytest.mark.django_db

SAMPLES = ("CT_small.dcm", "MR_small.dcm", "SC_rgb_small_odd.dcm", "rtplan.dcm")


def original(name="CT_small.dcm"):
    return pydicom.dcmread(get_testdata_file(name, download=False))


def encode(ds, syntax=ExplicitVRLittleEndian, *, group_lengths=False) -> bytes:
    ds = copy.deepcopy(ds)
    if syntax.is_compressed:
        ds.compress(syntax, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = syntax
    if group_lengths:
        for group in sorted({t.group for t in ds.keys()}):
            ds.add_new((group, 0x0000), "UL", 0)  # the writer does not check the value; a reader ignores it
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def take_all(submission, payloads, name="f"):
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    items = [intake.take(data, f"{name}{i}.dcm") for i, data in enumerate(payloads)]
    intake.finish()
    return items


def uid_sets(collection):
    return (
        set(Study.objects.filter(collection=collection).values_list("study_instance_uid", flat=True)),
        set(Series.objects.filter(collection=collection).values_list("series_instance_uid", flat=True)),
        set(Image.objects.filter(collection=collection).values_list("sop_instance_uid", flat=True)),
    )


def test_the_same_originals_in_two_collections_are_two_sets_of_objects():
    first = make_submission(slug="cohort-a", prefix="COHA")
    second = make_submission(slug="cohort-b", prefix="COHB")
    payloads = [encode(original(n)) for n in SAMPLES]
    assert [i.outcome for i in take_all(first, payloads)] == ["accepted"] * 4
    assert [i.outcome for i in take_all(second, payloads)] == ["accepted"] * 4
    for submission in (first, second):
        collection = Collection.objects.get(pk=submission.collection_id)
        assert collection.image_count == 4 and collection.series_count == 4 and collection.study_count >= 1
        assert Image.objects.filter(collection=collection, series__collection=collection).count() == 4
    a, b = uid_sets(first.collection), uid_sets(second.collection)
    assert all(a[i] and not (a[i] & b[i]) for i in range(3)), "no study, series or image UID is shared"
    assert not Subject.objects.filter(collection=first.collection, series__collection=second.collection).exists()


def test_uids_are_stable_within_a_collection_across_batches_and_resends():
    submission = make_submission(slug="stable", prefix="STAB")
    first = take_all(submission, [encode(original())])[0]
    again = take_all(submission, [encode(original())], name="again")[0]
    assert again.outcome == "unchanged" and again.image == first.image
    assert Image.objects.count() == 1


def test_a_kept_uid_that_another_collection_owns_is_refused_with_the_reason():
    published = make_submission(slug="published-one", prefix="PUB")
    take_all(published, [encode(original())])
    Collection.objects.filter(pk=published.collection_id).update(status=Status.PUBLISHED)
    owner = Collection.objects.get(pk=published.collection_id)
    before = (owner.image_count, Image.objects.filter(collection=owner).count())
    # What the published collection holds, downloaded and sent to a draft with "retain UIDs".
    with Image.objects.get().stored_file.open() as fh:
        downloaded = fh.read()
    draft = make_submission(slug="draft-two", prefix="DRAFT")
    draft.deid_options = list(draft.deid_options) + ["retainUIDs"]
    draft.save()
    item = take_all(draft, [downloaded, encode(original("MR_small.dcm"))])
    assert item[0].outcome == "rejected"
    assert "already belongs to collection 'Published One'" in item[0].reason and "UID" in item[0].reason
    assert item[1].outcome == "accepted"  # the rest of the batch goes on
    owner.refresh_from_db()
    assert (owner.image_count, Image.objects.filter(collection=owner).count()) == before
    assert Image.objects.filter(collection=draft.collection).count() == 1


@pytest.mark.parametrize("name", SAMPLES)
def test_a_resend_in_another_encoding_is_unchanged(name):
    submission = make_submission()
    ds = original(name)
    encodings = [encode(ds, ExplicitVRLittleEndian), encode(ds, ImplicitVRLittleEndian),
                 encode(ds, ExplicitVRLittleEndian, group_lengths=True)]
    if "PixelData" in ds and ds.BitsAllocated in (8, 16):
        encodings.append(encode(ds, RLELossless))
    items = take_all(submission, encodings)
    assert [i.outcome for i in items] == ["accepted"] + ["unchanged"] * (len(encodings) - 1)
    assert "another encoding" in items[1].reason  # Implicit VR: other bytes, the same content
    assert Image.objects.count() == 1 and not ConflictingFile.objects.exists()


def _changed_pixels(ds):
    ds = copy.deepcopy(ds)
    pixels = ds.pixel_array.copy()
    pixels[0, 0] += 1
    ds.PixelData = pixels.tobytes()
    return ds


def test_other_pixel_values_or_header_values_are_conflicts_kept_beside_the_image():
    submission = make_submission()
    ds = original()
    header = copy.deepcopy(ds)
    header.SeriesDescription = "another description"
    items = take_all(submission, [encode(ds), encode(_changed_pixels(ds), ImplicitVRLittleEndian), encode(header)])
    assert [i.outcome for i in items] == ["accepted", "conflict", "conflict"]
    assert "pixel values differ" in items[1].reason and "SeriesDescription" in items[2].reason
    assert Image.objects.count() == 1
    conflicts = list(ConflictingFile.objects.order_by("pk"))
    assert [c.pixels_differ for c in conflicts] == [True, False]
    assert conflicts[1].differences == ["SeriesDescription"]
    assert all(c.image == items[0].image and c.stored_file == i.stored_file for c, i in zip(conflicts, items[1:]))
    batch = items[0].batch
    batch.refresh_from_db()
    assert (batch.accepted, batch.unchanged, batch.conflicts) == (1, 0, 2)


def test_a_curator_switches_an_image_to_the_received_file_and_can_undo(curator, django_capture_on_commit_callbacks):
    submission = make_submission()
    ds = original()
    first, later = take_all(submission, [encode(ds), encode(_changed_pixels(ds))])
    run_checks(collection=submission.collection, checks=["duplicate_sop"])
    finding = Finding.objects.get(check_name="duplicate_sop", status="open")
    assert finding.severity == "error" and finding.fix["op"] == "use_received"
    with django_capture_on_commit_callbacks(execute=True):
        correction = apply_fix(finding=finding, actor=curator, reason="the site resent the corrected slice")
    correction.refresh_from_db()
    image = Image.objects.get()
    assert correction.state == "applied"
    received = pydicom.dcmread(io.BytesIO(later.stored_file.open().read()))
    now = pydicom.dcmread(io.BytesIO(image.stored_file.open().read()))
    assert (now.pixel_array == received.pixel_array).all()
    run_checks(collection=submission.collection, checks=["duplicate_sop"])
    assert not Finding.objects.filter(check_name="duplicate_sop", status="open").exists()
    undo(correction=correction, actor=curator, reason="wrong choice")
    assert Image.objects.get().stored_file == first.stored_file
    run_checks(collection=submission.collection, checks=["duplicate_sop"])
    assert Finding.objects.filter(check_name="duplicate_sop", status="open").count() == 1


def test_the_report_command_finds_objects_shared_across_collections(capsys):
    first = make_submission(slug="cohort-a", prefix="COHA")
    second = make_submission(slug="cohort-b", prefix="COHB")
    take_all(first, [encode(original())])
    items = take_all(second, [encode(original("MR_small.dcm"))])
    call_command("report_shared_objects")
    assert "No objects are shared" in capsys.readouterr().out
    # What an earlier version did: the second collection's file filed into the first one's series.
    series_a = Series.objects.get(collection=first.collection)
    Image.objects.filter(pk=items[0].image_id).update(series=series_a, collection=first.collection)
    with pytest.raises(SystemExit):
        call_command("report_shared_objects", "--fail")
    out = capsys.readouterr().out
    assert "Cohort B" in out and "Cohort A" in out and "1 file" in out
