"""Image classes at intake, class and image verdicts, accepting a series, leases, assignment,
progress, the gate, the intake hook and masks."""
import re

import numpy as np
import pytest
from django.urls import reverse

from collections_app.models import Image
from curation.models import Correction, PixelMaskRule
from curation.review import derived, gates, keymap, services
from curation.review.models import ClassMember, ImageClass, SeriesReview, TextDetection, Verdict
from tcia.core.models import AuditEvent
from tests.conftest import make_user

from .helpers import ct_series_bytes, ingest, series_of, us_text_bytes


@pytest.fixture
def sub(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return ingest(ct_series_bytes(4) + us_text_bytes(2))


def test_keymap_has_no_duplicate_key_and_build_refuses_one():
    keys = [b[0] for b in keymap.BINDINGS]
    assert len(keys) == len(set(keys)), "a key is bound twice in curation/review/keymap.py"
    assert set(keymap.KEYMAP) == set(keys)
    with pytest.raises(keymap.DuplicateKey):
        keymap.build(keymap.BINDINGS + [("a", "zoom", "in", "again")])
    # every verdict has a key, and the JS never hard-codes a key of its own
    assert {b[2] for b in keymap.BINDINGS if b[1] == "verdict"} == set(Verdict.Kind.values)
    actions = {b[1] for b in keymap.BINDINGS}
    keys_js = open("static/js/review_keys.js").read()
    assert "e.key ===" not in keys_js.replace('e.key === "Escape"', "").replace('e.key === "Enter"', "")
    for name, handled in (("static/js/review.js", actions), ("static/js/review_class.js", {"verdict", "take", "drill"})):
        js = open(name).read()
        assert not re.search(r"\be\.key\b", js) and "reviewKeys(cfg.keymap" in js, f"{name} reads keys outside the key map"
        missing = [a for a in handled if f"{a}:" not in js and f"{a}," not in js and f"{a} }}" not in js]
        assert not missing, f"{name} has no handler for {missing}"


def _class(series):
    return ImageClass.objects.get(series=series)


def test_intake_groups_classes_renders_montages_and_finds_burned_in_text(sub):
    ct, us = series_of(sub, "CT").get(), series_of(sub, "US").get()
    # one class per series here (same attributes, one orientation), every image a member
    assert ImageClass.objects.filter(collection=sub.collection).count() == 2
    ct_class, us_class = _class(ct), _class(us)
    assert (ct_class.image_count, us_class.image_count, ct_class.geometry) == (4, 2, "line")
    assert ClassMember.objects.filter(image_class=ct_class).count() == 4
    assert ct_class.attributes["BodyPartExamined"] == "CHEST" and ct_class.attributes["Modality"] == "CT"
    # the montage was rendered by the task, named after the class's files
    shas = [im.stored_file.sha256 for im in ct.images.all()]
    assert ct_class.montage_key == derived.montage_key(shas)
    assert derived.storage().exists(derived.montage_name(ct_class.montage_key))
    # thumbnails are rendered on demand, not at intake
    for image in Image.objects.filter(series__collection=sub.collection):
        assert not derived.storage().exists(derived.thumb_name(image.stored_file.sha256))
    assert SeriesReview.objects.get(series=us).likely_text and us_class.likely_text
    assert not SeriesReview.objects.get(series=ct).likely_text and not ct_class.likely_text
    det = TextDetection.objects.filter(image__series=us)
    assert det.count() == 2
    boxes = det.first().boxes
    assert boxes, "OCR found no text in the burned-in frame"
    assert any("12345678" in b["text"] for b in boxes)
    b = boxes[0]
    assert b["x"] < 20 and b["y"] < 20  # the text sits in the top-left corner
    assert us_class.text_images == 2
    assert not TextDetection.objects.filter(image__series=ct).exists()  # CT is not OCRed
    # the class with text comes first in the queue
    assert list(services.queue(sub.collection).values_list("pk", flat=True)) == [us_class.pk, ct_class.pk]


def test_verdicts_supersede_and_are_audited(sub, curator):
    image = series_of(sub, "CT").get().images.order_by("instance_number").first()
    first = services.record_verdict(image=image, verdict="ok", actor=curator)
    second = services.record_verdict(image=image, verdict="bad", actor=curator)
    first.refresh_from_db()
    assert not first.current and second.current and second.supersedes == first
    assert Verdict.objects.filter(image=image).count() == 2
    events = AuditEvent.objects.filter(action="review.verdict").order_by("pk")
    assert [e.data["verdict"] for e in events] == ["ok", "bad"]
    assert events.last().data["previous_verdict"] == "ok"
    with pytest.raises(services.ReviewError):
        services.record_verdict(image=image, verdict="other", actor=curator)  # needs a note
    services.record_verdict(image=image, verdict="other", note="motion artefact", actor=curator)
    assert Verdict.objects.get(image=image, current=True).note == "motion artefact"


def test_accept_series_checks_the_confirmed_count(sub, curator):
    ct = series_of(sub, "CT").get()
    services.record_verdict(image=ct.images.first(), verdict="phi", actor=curator)
    with pytest.raises(services.StaleCount):
        services.accept_series(series=ct, actor=curator, expected=4)
    assert services.accept_series(series=ct, actor=curator, expected=3) == 3
    p = services.series_progress(ct)
    assert (p.reviewed, p.total) == (4, 4)
    assert Verdict.objects.filter(series=ct, current=True, verdict="phi").count() == 1  # kept


def test_progress_and_gate(sub, curator):
    ct = series_of(sub, "CT").get()
    assert str(services.collection_progress(sub.collection)) == "0 / 6"
    assert str(services.class_progress(sub.collection)) == "0 / 2"
    assert [m for m, _ in gates.gate(sub.collection)] == [
        "2 of 2 image classes are not reviewed (every class must be reviewed).",
        "6 of 6 images have no review verdict (every image must be reviewed)."]
    services.accept_series(series=ct, actor=curator, expected=4)
    assert str(services.class_progress(sub.collection)) == "1 / 2"
    assert gates.gate(sub.collection)[0][0] == "1 of 2 image classes is not reviewed (every class must be reviewed)."
    us = series_of(sub, "US").get()
    for im in us.images.all():
        services.record_verdict(image=im, verdict="phi", actor=curator)
    assert str(services.collection_progress(sub.collection)) == "6 / 6"
    assert str(services.class_progress(sub.collection)) == "2 / 2"
    messages = [m for m, _ in gates.gate(sub.collection)]
    assert messages == ["2 images flagged for masking are not masked."]


def test_a_class_verdict_applies_to_its_images_and_drill_down_overrides_one(sub, curator):
    ct = series_of(sub, "CT").get()
    cls = _class(ct)
    first = services.record_class_verdict(image_class=cls, verdict="bad", note="wrong anatomy", actor=curator)
    assert first.images == 4
    current = Verdict.objects.filter(series=ct, current=True)
    assert current.count() == 4 and set(current.values_list("verdict", flat=True)) == {"bad"}
    assert set(current.values_list("class_verdict", flat=True)) == {first.pk}
    cls.refresh_from_db()
    assert (cls.reviewed, cls.flagged, cls.done) == (4, 4, True)
    assert str(services.class_progress(sub.collection)) == "1 / 2"
    # drill down: one image of the flagged class judged alone
    image = ct.images.order_by("instance_number").first()
    single = services.record_verdict(image=image, verdict="ok", actor=curator)
    assert single.class_verdict is None and single.supersedes.class_verdict == first
    cls.refresh_from_db()
    assert (cls.reviewed, cls.flagged) == (4, 3)
    # a new class verdict supersedes the old one and every image verdict, kept as history
    second = services.record_class_verdict(image_class=cls, verdict="scout", actor=curator)
    first.refresh_from_db()
    assert not first.current and second.supersedes == first
    assert Verdict.objects.filter(image=image).count() == 3
    assert set(Verdict.objects.filter(series=ct, current=True).values_list("verdict", flat=True)) == {"scout"}
    event = AuditEvent.objects.filter(action="review.class_verdict").order_by("pk").last()
    assert event.data["verdict"] == "scout" and event.data["images"] == 4 and event.data["previous_verdict"] == "bad"
    with pytest.raises(services.ReviewError):
        services.record_class_verdict(image_class=cls, verdict="other", actor=curator)  # needs a note
    with pytest.raises(services.ReviewError):
        services.record_class_verdict(image_class=cls, verdict="wrong_body_part", actor=curator)  # not a verdict now


def test_an_image_arriving_in_a_reviewed_class_reopens_it(db, django_capture_on_commit_callbacks, curator):
    files = ct_series_bytes(4)
    with django_capture_on_commit_callbacks(execute=True):
        sub = ingest(files[:3])
    cls = _class(series_of(sub, "CT").get())
    services.record_class_verdict(image_class=cls, verdict="ok", actor=curator)
    assert not gates.gate(sub.collection)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(files[3:], submission=sub)
    cls.refresh_from_db()
    assert cls.image_count == 4 and ImageClass.objects.filter(collection=sub.collection).count() == 1
    assert gates.gate(sub.collection)[0][0] == "1 of 1 image class is not reviewed (every class must be reviewed)."


def test_opening_pages_takes_nothing_a_post_takes_the_class(curator_client, sub, curator):
    ct = series_of(sub, "CT").get()
    cls = _class(ct)
    for url in (reverse("curation:review:image_class", args=[cls.pk]), reverse("curation:review:series", args=[ct.pk]),
                reverse("curation:review:viewer", args=[ct.pk]) + f"?cls={cls.pk}"):
        assert curator_client.get(url).status_code == 200
    # the viewer's background ping renews only what the curator holds
    assert curator_client.post(reverse("curation:review:lease", args=[ct.pk])).json()["renewed"] == 0
    cls.refresh_from_db()
    assert cls.claimed_by is None and cls.lease_expires_at is None
    r = curator_client.post(reverse("curation:review:take", args=[cls.pk]), HTTP_ACCEPT="application/json")
    assert r.status_code == 200 and r.json()["ok"]
    cls.refresh_from_db()
    assert cls.claimed_by == curator and cls.lease_expires_at
    assert AuditEvent.objects.filter(action="review.take").exists()
    assert curator_client.post(reverse("curation:review:lease", args=[ct.pk])).json()["renewed"] == 1
    other = make_user("cur2", "curator")
    with pytest.raises(services.ClaimedByOther):
        services.record_class_verdict(image_class=cls, verdict="ok", actor=other)
    with pytest.raises(services.ClaimedByOther):
        services.record_verdict(image=ct.images.first(), verdict="ok", actor=other)


def test_class_verdict_by_post_takes_the_next_class(curator_client, sub, curator):
    us_class, ct_class = list(services.queue(sub.collection))
    r = curator_client.post(reverse("curation:review:class_verdict", args=[us_class.pk]),
                            {"verdict": "phi", "next": True}, content_type="application/json")
    assert r.status_code == 200 and r.json()["images"] == 2
    assert r.json()["next"] == reverse("curation:review:image_class", args=[ct_class.pk])
    assert r.json()["progress"] == {"images": "2 / 6", "classes": "1 / 2"}
    ct_class.refresh_from_db()
    assert ct_class.claimed_by == curator  # taken by the key press that judged the previous class
    r = curator_client.post(reverse("curation:review:class_verdict", args=[ct_class.pk]), {"verdict": "nonsense"},
                            content_type="application/json")
    assert r.status_code == 409 and "Unknown verdict" in r.json()["error"]


def test_queue_puts_likely_text_first_then_the_largest_classes(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sub = ingest(ct_series_bytes(2, patient="PAT-1") + ct_series_bytes(5, patient="PAT-1") + us_text_bytes(1))
    sizes = [(c.likely_text, c.image_count) for c in services.queue(sub.collection)]
    assert sizes == [(True, 1), (False, 5), (False, 2)]


def test_claims_and_assignment(sub, curator):
    other = make_user("cur2", "curator")
    first = services.claim_next(user=curator, collection=sub.collection)
    second = services.claim_next(user=other, collection=sub.collection)
    assert first.pk != second.pk
    assert services.claim_next(user=make_user("cur3", "curator"), collection=sub.collection) is None
    with pytest.raises(services.ClaimedByOther):
        services.claim(image_class=first, user=other)
    image = Image.objects.filter(review_class__image_class=first).first()
    with pytest.raises(services.ClaimedByOther):
        services.record_verdict(image=image, verdict="ok", actor=other)
    # an expired lease frees the class
    ImageClass.objects.filter(pk=first.pk).update(lease_expires_at=first.lease_expires_at.replace(year=2000))
    assert services.claim(image_class=first, user=other).claimed_by == other
    # assignment: only the assignee may take it
    services.release(image_class=first, user=other)
    services.assign(image_class=first, assignee=curator, actor=other)
    with pytest.raises(services.AssignedToOther):
        services.claim(image_class=first, user=other)
    assert services.claim(image_class=first, user=curator).claimed_by == curator
    assert AuditEvent.objects.filter(action="review.assign").exists()


def test_mask_applied_to_the_device_signature_as_a_correction(sub, curator):
    us = series_of(sub, "US").get()
    image = us.images.order_by("instance_number").first()
    old_sha = image.stored_file.sha256
    rects = [{"x": 0, "y": 0, "w": 250, "h": 30}]
    preview = services.mask_preview(image=image, rects=rects)
    assert preview[:2] == b"\xff\xd8"
    image.refresh_from_db()
    assert image.stored_file.sha256 == old_sha  # the preview wrote nothing
    correction, verdict = services.apply_mask(image=image, rects=rects, scope="device", actor=curator,
                                              reason="name and MRN in the corner", save_rule=True)
    assert correction.kind == "pixel_mask" and correction.state == Correction.State.APPLIED
    assert correction.files.count() == 2  # both frames from the same device
    image.refresh_from_db()
    assert image.stored_file.sha256 != old_sha
    ds = derived.read_dataset(image.stored_file)
    arr = ds.pixel_array
    assert arr[0:30, 0:250].max() == 0 and arr[100:200, 100:200].max() > 0
    assert ds.BurnedInAnnotation == "NO"
    assert verdict.verdict == "phi" and verdict.masked_by == correction and verdict.current
    rule = PixelMaskRule.objects.get()
    assert (rule.manufacturer, rule.model, rule.rows, rule.columns, rule.rects) == ("SonoCorp", "Echo 5", 240, 320, "0,0,250,30")
    assert AuditEvent.objects.filter(action="correction.pixel_mask").exists()
    assert [m for m, _ in gates.gate(sub.collection)] == [
        "2 of 2 image classes are not reviewed (every class must be reviewed).",
        "5 of 6 images have no review verdict (every image must be reviewed)."]
    # undoing the mask puts the PHI back: the gate blocks again
    from curation.services.corrections import undo

    undo(correction=correction, actor=curator, reason="wrong place")
    assert "1 image flagged for masking is not masked." in [m for m, _ in gates.gate(sub.collection)]


def test_pages_are_curator_only(client, sub, plain_user):
    client.force_login(plain_user)
    ct = series_of(sub, "CT").get()
    cls = _class(ct)
    for url in (reverse("curation:review:queue"), reverse("curation:review:series", args=[ct.pk]), reverse("curation:review:viewer", args=[ct.pk]),
                reverse("curation:review:image_class", args=[cls.pk]), reverse("curation:review:montage", args=[cls.pk]),
                reverse("curation:review:thumb", args=[ct.images.first().stored_file.sha256])):
        assert client.get(url).status_code == 404
    assert client.post(reverse("curation:review:take", args=[cls.pk])).status_code == 404
    assert client.post(reverse("curation:review:class_verdict", args=[cls.pk]), {"verdict": "ok"}).status_code == 404
    assert not Verdict.objects.exists() and ImageClass.objects.get(pk=cls.pk).claimed_by is None


def test_pages_render_for_a_curator(curator_client, sub, curator):
    import io

    from PIL import Image as PILImage

    ct = series_of(sub, "CT").get()
    cls = _class(ct)
    r = curator_client.get(reverse("curation:review:collection", args=[sub.collection.slug]))
    assert r.status_code == 200 and b"0 / 6" in r.content and b'id="class-progress">0 / 2' in r.content
    r = curator_client.get(reverse("curation:review:image_class", args=[cls.pk]))
    html = r.content.decode()
    assert r.status_code == 200 and 'id="class-config"' in html and "Take this class" in html and "CHEST" in html
    r = curator_client.get(reverse("curation:review:montage", args=[cls.pk]))
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    montage = PILImage.open(io.BytesIO(b"".join(r.streaming_content) if r.streaming else r.content))
    assert montage.size == (3 * 128 + 2 * 4, 128)  # max | mean | min of the 128 x 128 slices
    r = curator_client.get(reverse("curation:review:series", args=[ct.pk]))
    assert r.status_code == 200
    html = r.content.decode()
    assert "Mark <strong id=\"accept-count\">4</strong> images" in html
    assert "CHEST" in html and "Lung" in html  # BodyPartExamined and the collection's site
    r = curator_client.post(reverse("curation:review:accept", args=[ct.pk]), {"expected": "4"})
    assert r.status_code == 302 and services.series_progress(ct).reviewed == 4
    r = curator_client.get(reverse("curation:review:viewer", args=[ct.pk]))
    assert r.status_code == 200 and b'id="review-config"' in r.content and b"ArrowDown" in r.content
    sha = ct.images.first().stored_file.sha256
    r = curator_client.get(reverse("curation:review:preview", args=[sha, "lung", 0]))
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg" and "rendered" in r["X-Render"]
    r = curator_client.get(reverse("curation:review:preview", args=[sha, "lung", 0]))
    assert "cache" in r["X-Render"]
    r = curator_client.get(reverse("curation:review:full", args=[sha, 0]))
    values = np.frombuffer(b"".join(r.streaming_content) if r.streaming else r.content, dtype="<f4")
    assert values.size == 128 * 128
    r = curator_client.post(reverse("curation:review:verdict", args=[ct.images.first().pk]), {"verdict": "bad"},
                            content_type="application/json")
    assert r.status_code == 200 and r.json()["progress"]["series"] == "4 / 4" and r.json()["supersedes"]


def test_contact_sheet_holds_the_page_thumbnails(curator_client, sub):
    import io
    import re

    from PIL import Image as PILImage

    ct = series_of(sub, "CT").get()
    html = curator_client.get(reverse("curation:review:series", args=[ct.pk])).content.decode()
    url = re.search(r'data-sheet="([^"]+/sheet/[^"]+)"', html).group(1)  # set as the cell's background by sheet.js
    r = curator_client.get(url)
    assert r.status_code == 200 and "immutable" in r["Cache-Control"]
    data = b"".join(r.streaming_content) if r.streaming else r.content
    sheet = np.asarray(PILImage.open(io.BytesIO(data)).convert("L")).astype(int)
    assert sheet.shape == (128, 4 * 128)
    # cell 2 shows image 2's thumbnail (JPEG twice, so a tolerance)
    second = ct.images.order_by("instance_number")[1]
    thumb = np.asarray(PILImage.open(io.BytesIO(derived.thumbnail(second.stored_file))).convert("L")).astype(int)
    assert np.abs(sheet[:, 128:256] - thumb).mean() < 6
    assert np.abs(sheet[:, 0:128] - thumb).mean() > np.abs(sheet[:, 128:256] - thumb).mean()


def test_unknown_thumbnail_is_404(curator_client, sub):
    r = curator_client.get(reverse("curation:review:thumb", args=["0" * 64]))
    assert r.status_code == 404


def test_check_findings_are_shown_beside_the_series(curator_client, sub):
    models = pytest.importorskip("curation.checks.models", reason="the checks app has not landed")
    ct = series_of(sub, "CT").get()
    models.Finding.objects.create(collection=sub.collection, check_name="consistency_series", severity="warning",
                                  scope="series", message="SliceThickness differs within the series",
                                  fingerprint="f" * 64, series=ct)
    html = curator_client.get(reverse("curation:review:series", args=[ct.pk])).content.decode()
    assert "Check findings" in html and "SliceThickness differs within the series" in html


def test_images_from_before_classes_are_grouped_from_the_index(sub, curator_client):
    ImageClass.objects.filter(collection=sub.collection).delete()  # as after the migration: no classes
    assert "6 images in no class yet" in gates.gate(sub.collection)[0][0]
    r = curator_client.get(reverse("curation:review:collection", args=[sub.collection.slug]))
    assert r.status_code == 200
    assert ClassMember.objects.filter(image__series__collection=sub.collection).count() == 6
    assert sorted(ImageClass.objects.filter(collection=sub.collection).values_list("image_count", flat=True)) == [2, 4]
    assert "in no class" not in gates.gate(sub.collection)[0][0]
