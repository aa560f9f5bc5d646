"""Verdicts, accepting a series, claims, assignment, progress, the gate, the intake hook and masks."""
import numpy as np
import pytest
from django.urls import reverse

from collections_app.models import Image
from curation.models import Correction, PixelMaskRule
from curation.review import derived, gates, keymap, services
from curation.review.models import SeriesReview, TextDetection, Verdict
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
    js = open("static/js/review.js").read()
    assert "e.key ===" not in js.replace('e.key === "Escape"', "").replace('e.key === "Enter"', "")


def test_intake_renders_thumbnails_and_finds_burned_in_text(sub):
    ct, us = series_of(sub, "CT").get(), series_of(sub, "US").get()
    for image in Image.objects.filter(series__collection=sub.collection):
        assert derived.storage().exists(derived.thumb_name(image.stored_file.sha256))
    assert SeriesReview.objects.get(series=us).likely_text
    assert not SeriesReview.objects.get(series=ct).likely_text
    det = TextDetection.objects.filter(image__series=us)
    assert det.count() == 2
    boxes = det.first().boxes
    assert boxes, "OCR found no text in the burned-in frame"
    assert any("12345678" in b["text"] for b in boxes)
    b = boxes[0]
    assert b["x"] < 20 and b["y"] < 20  # the text sits in the top-left corner
    assert not TextDetection.objects.filter(image__series=ct).exists()  # CT is not OCRed
    # the series with text comes first in the queue
    assert list(services.queue(sub.collection).values_list("series_id", flat=True))[0] == us.pk


def test_verdicts_supersede_and_are_audited(sub, curator):
    image = series_of(sub, "CT").get().images.order_by("instance_number").first()
    first = services.record_verdict(image=image, verdict="ok", actor=curator)
    second = services.record_verdict(image=image, verdict="wrong_body_part", actor=curator)
    first.refresh_from_db()
    assert not first.current and second.current and second.supersedes == first
    assert Verdict.objects.filter(image=image).count() == 2
    events = AuditEvent.objects.filter(action="review.verdict").order_by("pk")
    assert [e.data["verdict"] for e in events] == ["ok", "wrong_body_part"]
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
    assert "6 of 6 images have no review verdict" in gates.gate(sub.collection)[0][0]
    services.accept_series(series=ct, actor=curator, expected=4)
    us = series_of(sub, "US").get()
    for im in us.images.all():
        services.record_verdict(image=im, verdict="phi", actor=curator)
    assert str(services.collection_progress(sub.collection)) == "6 / 6"
    messages = [m for m, _ in gates.gate(sub.collection)]
    assert messages == ["2 images flagged with burned-in PHI are not masked."]


def test_claims_and_assignment(sub, curator):
    other = make_user("cur2", "curator")
    first = services.claim_next(user=curator, collection=sub.collection)
    second = services.claim_next(user=other, collection=sub.collection)
    assert first.series_id != second.series_id
    assert services.claim_next(user=make_user("cur3", "curator"), collection=sub.collection) is None
    with pytest.raises(services.ClaimedByOther):
        services.claim(series=first.series, user=other)
    with pytest.raises(services.ClaimedByOther):
        services.record_verdict(image=first.series.images.first(), verdict="ok", actor=other)
    # an expired lease frees the series
    SeriesReview.objects.filter(pk=first.pk).update(lease_expires_at=first.lease_expires_at.replace(year=2000))
    assert services.claim(series=first.series, user=other).claimed_by == other
    # assignment: only the assignee may claim
    services.release(series=first.series, user=other)
    services.assign(series=first.series, assignee=curator, actor=other)
    with pytest.raises(services.AssignedToOther):
        services.claim(series=first.series, user=other)
    assert services.claim(series=first.series, user=curator).claimed_by == curator
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
    assert [m for m, _ in gates.gate(sub.collection)] == ["5 of 6 images have no review verdict (every image must be reviewed)."]
    # undoing the mask puts the PHI back: the gate blocks again
    from curation.services.corrections import undo

    undo(correction=correction, actor=curator, reason="wrong place")
    assert "1 images flagged with burned-in PHI are not masked." in [m for m, _ in gates.gate(sub.collection)]


def test_pages_are_curator_only(client, sub, plain_user):
    client.force_login(plain_user)
    ct = series_of(sub, "CT").get()
    for url in (reverse("curation:review:queue"), reverse("curation:review:series", args=[ct.pk]), reverse("curation:review:viewer", args=[ct.pk]),
                reverse("curation:review:thumb", args=[ct.images.first().stored_file.sha256])):
        assert client.get(url).status_code == 404


def test_pages_render_for_a_curator(curator_client, sub, curator):
    ct = series_of(sub, "CT").get()
    r = curator_client.get(reverse("curation:review:collection", args=[sub.collection.slug]))
    assert r.status_code == 200 and b"0 / 6" in r.content
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
    r = curator_client.post(reverse("curation:review:verdict", args=[ct.images.first().pk]), {"verdict": "corrupt"},
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
