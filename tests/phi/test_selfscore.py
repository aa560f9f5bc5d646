"""The de-identification self-score: a submission whose intake is clean scores full; a defect
planted for each check lowers the score and names that check; the gate refuses publication
below TCIA_DEID_MIN_SCORE, through the gates as the app registers them."""
import pytest
from django.test import override_settings
from pydicom.tag import BaseTag

from collections_app.models import Image
from collections_app.services.publish import PublishBlocked, publish, registered_gates
from curation.models import SubjectMapping
from curation.phi.apps import selfscore_gate
from curation.phi.selfscore import gate, self_score
from curation.services.corrections import Change, apply_correction
from tests.checks.builders import ingest, make_submission, rt_chain, series

pytestmark = pytest.mark.django_db


def clean_series(patient="PAT-A", key="a1", images=3, **kw):
    data = [d for d, _ in series(patient, f"st-{patient}", key, images=images, **kw)]
    for ds in data:
        ds.InstitutionName = "Springfield General Hospital"
        ds.ReferringPhysicianName = "Hibbert^Julius"
        ds.AccessionNumber = "ACC998877"
    return data


@pytest.fixture
def submission():
    s = make_submission(slug="deid-score", prefix="DSC")
    ingest(s, clean_series("PAT-A", "a1") + clean_series("PAT-B", "b1", images=2))
    return s


def failing(result):
    return {c.key for c in result.failing}


def rewrite(collection, images, mutate, curator):
    def apply(ds, image):
        mutate(ds, image)
        return [Change("x", "", "y")]

    return apply_correction(collection=collection, images=images, mutate=apply, actor=curator, reason="planted defect",
                            kind="tag_edit", summary="planted")


def test_a_clean_intake_scores_full(submission, curator_client):
    result = self_score(submission)
    assert result.score == 100.0 and not result.failing
    items = {c.key: c.items for c in result.checks}
    for key in ("identifiers", "dates", "uids", "references", "private", "observed"):
        assert items[key] > 0, key  # every check had something to judge
    assert items["observed"] == 5
    html = curator_client.get(f"/curation/phi/{submission.collection.slug}/deid-score/").content.decode()
    assert 'data-score="100.0"' in html and "Every check passes" in html


def test_an_rt_chain_with_its_references_scores_full(submission):
    ct = clean_series("PAT-C", "c1", images=2)
    ingest(submission, ct + [ds for ds in rt_chain("PAT-C", "st-PAT-C", "c1", ct) if ds.Modality == "RTSTRUCT"])
    assert self_score(submission).score == 100.0


def test_an_identifier_left_by_bypassing_deidentification(curator, monkeypatch):
    """The engine is made to keep InstitutionName (as if its rule were missing) for one batch."""
    from curation.services import intake

    s = make_submission(slug="deid-bypass", prefix="DBY")
    ingest(s, clean_series("PAT-A", "a1"))
    assert self_score(s).score == 100.0
    real = intake.build_deidentifier

    def leaky(submission, on_element=None):
        engine = real(submission, on_element=on_element)
        engine._actions[BaseTag(0x00080080)] = 0  # keep InstitutionName
        return engine

    monkeypatch.setattr(intake, "build_deidentifier", leaky)
    ingest(s, clean_series("PAT-B", "b1", images=1))
    result = self_score(s)
    assert result.score < 100.0 and failing(result) == {"identifiers"}
    check = next(c for c in result.checks if c.key == "identifiers")
    assert check.failed == 1 and "(0008,0080)" in check.examples[0][1]
    assert "Springfield" not in str(check.examples)  # the report names the tag, never the value


def test_an_original_name_written_back_by_a_correction(submission, curator):
    image = Image.objects.filter(series__collection=submission.collection).first()
    rewrite(submission.collection, [image], lambda ds, im: setattr(ds, "ImageComments", "Hibbert^Julius"), curator)
    result = self_score(submission)
    assert failing(result) == {"identifiers"}


def test_inconsistent_date_shifts(submission, curator):
    c = submission.collection
    image = Image.objects.filter(series__collection=c).order_by("pk").first()
    rewrite(c, [image], lambda ds, im: setattr(ds, "StudyDate", "20000101"), curator)
    result = self_score(submission)
    assert failing(result) == {"dates"}
    assert "shifted by" in next(c for c in result.checks if c.key == "dates").examples[0][1]


def test_a_subject_whose_offset_changed_between_batches(submission):
    mapping = SubjectMapping.objects.get(submission=submission, subject_id__endswith="0001")
    SubjectMapping.objects.filter(pk=mapping.pk).update(date_offset_days=mapping.date_offset_days + 30)
    result = self_score(submission)
    assert failing(result) == {"dates"}  # the files already taken no longer agree with their subject


def test_a_uid_left_unmapped(curator, monkeypatch):
    from curation.services import intake

    s = make_submission(slug="deid-uid", prefix="DUI")
    real = intake.build_deidentifier

    def keeps_series_uid(submission, on_element=None):
        engine = real(submission, on_element=on_element)
        engine._actions[BaseTag(0x0020000E)] = 0
        return engine

    monkeypatch.setattr(intake, "build_deidentifier", keeps_series_uid)
    ingest(s, clean_series("PAT-A", "a1", images=2))
    result = self_score(s)
    assert "uids" in failing(result) and "identifiers" not in failing(result)


def test_a_dangling_reference(submission):
    ct = clean_series("PAT-C", "c1", images=3)
    struct = [ds for ds in rt_chain("PAT-C", "st-PAT-C", "c1", ct) if ds.Modality == "RTSTRUCT"]
    ingest(submission, ct[:2] + struct)  # the structure set references a CT image never received
    result = self_score(submission)
    assert failing(result) == {"references"}
    assert "absent instance" in next(c for c in result.checks if c.key == "references").examples[0][1]


def test_one_original_uid_mapped_two_ways(submission, curator):
    c = submission.collection
    image = Image.objects.filter(series__collection=c).order_by("pk").first()
    rewrite(c, [image], lambda ds, im: setattr(ds, "FrameOfReferenceUID", ds.FrameOfReferenceUID + ".7"), curator)
    result = self_score(submission)
    assert failing(result) == {"references"}


def test_a_private_tag_not_on_the_safe_list(submission, curator):
    def add_private(ds, image):
        block = ds.private_block(0x0009, "ACME_SECRETS", create=True)
        block.add_new(0x01, "LO", "kept by mistake")

    image = Image.objects.filter(series__collection=submission.collection).first()
    rewrite(submission.collection, [image], add_private, curator)
    result = self_score(submission)
    assert failing(result) == {"private"}
    assert "ACME_SECRETS" in next(c for c in result.checks if c.key == "private").examples[0][1]


def test_burned_in_text_neither_masked_nor_flagged():
    s = make_submission(slug="deid-burned", prefix="DBU")
    data = clean_series("PAT-A", "a1", images=1)
    data[0].BurnedInAnnotation = "YES"
    ingest(s, data)  # TCIA's options clean pixel data: no mask rule matched, so intake flags it
    assert self_score(s).score == 100.0
    s.deid_options = ["cleanDescriptors", "retainLongitudinalModifiedDates", "retainPatientCharacteristics",
                      "retainDeviceIdentity", "retainSafePrivate"]  # no Clean Pixel Data: nothing looks at pixels
    s.save()
    more = clean_series("PAT-B", "b1", images=1)
    more[0].BurnedInAnnotation = "YES"
    ingest(s, more)
    assert failing(self_score(s)) == {"burned_in"}


def test_a_file_that_did_not_come_through_intake(submission):
    import io

    from collections_app.services.indexing import index_dataset
    from collections_app.services.storage import store_bytes

    ds = clean_series("PAT-Z", "z1", images=1)[0]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    index_dataset(collection=submission.collection, ds=ds, stored_file=store_bytes(out.getvalue()))
    result = self_score(submission)
    assert "observed" in failing(result)


def test_the_gate_refuses_publication_below_the_minimum(submission, curator):
    assert selfscore_gate in registered_gates()  # registered by PhiConfig.ready
    c = submission.collection
    image = Image.objects.filter(series__collection=c).order_by("pk").first()
    rewrite(c, [image], lambda ds, im: setattr(ds, "StudyDate", "20000101"), curator)
    score = self_score(submission).score
    with override_settings(TCIA_DEID_MIN_SCORE=score - 0.01):
        assert gate(c) == []
    with override_settings(TCIA_DEID_MIN_SCORE=score + 0.01):
        assert "Dates shifted consistently" in gate(c)[0][0]
        with pytest.raises(PublishBlocked) as blocked:
            publish(c, actor=curator)
        assert any("self-score" in f.message and "Dates shifted" in f.message for f in blocked.value.failures)


def test_an_observer_that_fails_leaves_intake_going_and_the_file_unobserved(monkeypatch):
    from curation import hooks
    from curation.phi import selfscore

    def broken(dataset, *, submission):
        raise RuntimeError("an original value would be here")

    monkeypatch.setattr(hooks, "_OBSERVERS", [broken if f is selfscore.observe else f for f in hooks._OBSERVERS])
    monkeypatch.setattr(selfscore, "observe", broken)  # the hook looks its notes up by this function
    s = make_submission(slug="deid-broken", prefix="DBR")
    items = ingest(s, clean_series("PAT-A", "a1", images=2))
    assert [i.outcome for i in items] == ["accepted", "accepted"]
    assert failing(self_score(s)) == {"observed"}


def test_the_remembered_hashes_hold_no_original_value():
    """The judge remembers the hashes of de-identified values across files (_h_clean); what the
    observer hashes of the originals is never remembered, so none of them stays in memory."""
    from curation.phi import selfscore

    selfscore._SEEN.clear()
    s = make_submission(slug="deid-remember", prefix="DSR")
    ingest(s, clean_series("PAT-R", "r1", images=2))
    remembered = " ".join(text for _key, text in selfscore._SEEN)
    assert remembered  # the judge did remember the files' values
    for original in ("Springfield", "Hibbert", "Julius", "ACC998877", "PAT-R", "Doe"):
        assert original.lower() not in remembered.lower(), original
