"""The PHI report is kept incrementally, exactly; marks become corrections; sign-off is
invalidated by later changes."""
import csv
import io

import pytest
from django.conf import settings

from collections_app.models import Image
from curation.checks.services import run_spec_correction
from curation.models import Correction
from curation.phi import report
from curation.phi.gates import gate
from curation.phi.models import PhiFile, PhiValue
from curation.phi.services import apply_marks, mark, sign_off, signoff_status
from curation.services.corrections import Change, apply_correction, read_image_dataset, undo
from tcia.core.models import AuditEvent
from tests.checks.builders import ingest, make_submission, series

pytestmark = pytest.mark.django_db


def value(collection, tag_path, text=None):
    qs = PhiValue.objects.filter(collection=collection, tag_path=tag_path, present=True)
    if text is not None:
        qs = qs.filter(value=text)
    return qs


def snapshot(collection):
    return sorted(PhiValue.objects.filter(collection=collection, present=True)
                  .values_list("tag_path", "vr", "value", "file_count", "series_count"))


@pytest.fixture
def two_series():
    submission = make_submission(slug="phi-test", prefix="PHI")
    a = [d for d, _ in series("PAT-A", "s1", "a1", images=3, series_description="Chest")]
    b = [d for d, _ in series("PAT-A", "s1", "a2", images=2, series_number=2, series_description="Chest")]
    a[0].InstitutionAddress = "12 Main Street, Springfield"  # removed by de-identification
    ingest(submission, a + b)
    return submission


def test_counts_files_and_series_per_unique_value(two_series):
    c = two_series.collection
    desc = value(c, "(0008,103E)").get()
    assert (desc.value, desc.vr, desc.file_count, desc.series_count) == ("Chest", "LO", 5, 2)
    mod = value(c, "(0008,0060)").get()
    assert mod.file_count == 5 and mod.series_count == 2
    # nested paths by signature, private by creator
    assert value(c, "(0012,0064)[*](0008,0100)", "113100").get().file_count == 5
    private = value(c, '(0019,"GEMS_ACQU_01",23)').first()
    assert private.is_private and private.creator == "GEMS_ACQU_01"
    # our own UIDs are flagged and hidden by default
    assert PhiValue.objects.filter(collection=c, own_uid=True).exists()
    shown = report.filtered(c)
    assert not any(v.value.startswith(settings.TCIA_UID_ROOT + ".") for v in shown)
    assert report.facet_total(c) == shown.count()
    # the example location points at a real image
    assert Image.objects.filter(pk=desc.example_image_id).exists()


def test_likely_phi_heuristics():
    assert "name" in report.phi_kinds("PatientName", "PN", "Doe^John")
    assert "date" in report.phi_kinds("StudyComments", "LT", "seen on 20140312")
    assert "phone" in report.phi_kinds("ContactInfo", "LO", "call (555) 123-4567")
    assert "email" in report.phi_kinds("Comment", "LT", "x@example.org")
    assert "address" in report.phi_kinds("Text", "LT", "12 Main Street")
    assert "id" in report.phi_kinds("OtherPatientIDs", "LO", "MRN1234567")
    assert report.phi_kinds("SeriesDescription", "LO", "Chest") == []


def test_a_correction_replaces_the_old_files_contribution_exactly(two_series, curator):
    c = two_series.collection
    images = list(Image.objects.filter(series__collection=c, series__series_number="1"))

    def mutate(ds, image):
        ds.SeriesDescription = "Thorax"
        return [Change("SeriesDescription", "Chest", "Thorax")]

    before = snapshot(c)
    correction = apply_correction(collection=c, images=images, mutate=mutate, actor=curator, reason="r", kind="tag_edit",
                                  summary="s")
    assert value(c, "(0008,103E)", "Chest").get().file_count == 2
    assert value(c, "(0008,103E)", "Chest").get().series_count == 1
    thorax = value(c, "(0008,103E)", "Thorax").get()
    assert (thorax.file_count, thorax.series_count) == (3, 1)
    assert PhiFile.objects.filter(collection=c).count() == 5
    undo(correction=correction, actor=curator, reason="back")
    assert snapshot(c) == before
    assert not value(c, "(0008,103E)", "Thorax").exists()


def test_marks_become_a_phi_correction_and_the_value_leaves_the_report(two_series, curator):
    c = two_series.collection
    target = value(c, "(0008,0070)").get()  # Manufacturer
    mark(values=[target], action="replace", argument="VENDOR", actor=curator, reason="device name identifies the site")
    assert AuditEvent.objects.filter(action="phi.marked").exists()
    correction = apply_marks(collection=c, actor=curator, reason="apply PHI dispositions")
    run_spec_correction(correction.pk)
    correction.refresh_from_db()
    assert correction.kind == Correction.Kind.PHI and correction.state == "applied" and correction.files.count() == 5
    assert not value(c, "(0008,0070)", target.value).exists()
    assert value(c, "(0008,0070)", "VENDOR").get().file_count == 5
    assert read_image_dataset(Image.objects.filter(series__collection=c).first()).Manufacturer == "VENDOR"
    assert AuditEvent.objects.filter(action="correction.phi").exists()


def test_shift_and_remove_and_hash(two_series, curator):
    c = two_series.collection
    study_date = value(c, "(0008,0020)").get()
    mark(values=[study_date], action="shift", argument="10", actor=curator)
    mark(values=[value(c, "(0018,1020)").get()], action="remove", actor=curator)  # SoftwareVersions
    mark(values=[value(c, "(0008,1090)").get()], action="hash", actor=curator)  # ManufacturerModelName
    run_spec_correction(apply_marks(collection=c, actor=curator, reason="r").pk)
    ds = read_image_dataset(Image.objects.filter(series__collection=c).first())
    import datetime as dt
    old = dt.datetime.strptime(study_date.value, "%Y%m%d").date()
    assert ds.StudyDate == (old + dt.timedelta(days=10)).strftime("%Y%m%d")
    assert "SoftwareVersions" not in ds
    assert len(ds.ManufacturerModelName) == 16 and ds.ManufacturerModelName != "RHAPSODE"


def test_signoff_is_invalidated_by_a_later_correction(two_series, curator):
    c = two_series.collection
    assert gate(c) and "not been signed" in gate(c)[0][0]
    signoff = sign_off(collection=c, actor=curator, statement="reviewed every value")
    assert len(signoff.digest) == 64 and signoff.rows == report.filtered(c).count()
    assert AuditEvent.objects.filter(action="phi.signed_off", actor=curator).exists()
    assert signoff_status(c)["valid"] and gate(c) == []
    image = Image.objects.filter(series__collection=c).first()

    def mutate(ds, image):
        ds.SeriesDescription = "Other"
        return [Change("SeriesDescription", "Chest", "Other")]

    correction = apply_correction(collection=c, images=[image], mutate=mutate, actor=curator, reason="r", kind="tag_edit",
                                  summary="SeriesDescription := Other")
    status = signoff_status(c)
    assert not status["valid"]
    assert f"correction {correction.pk}" in status["invalidated_by"]
    assert "invalidated" in gate(c)[0][0]


def test_signoff_is_invalidated_by_a_new_file(two_series, curator):
    c = two_series.collection
    sign_off(collection=c, actor=curator)
    ingest(two_series, [d for d, _ in series("PAT-B", "s9", "b1", images=1)])
    assert "new file" in signoff_status(c)["invalidated_by"]


def test_keyset_pages_cover_every_row_once(two_series):
    c = two_series.collection
    qs = report.filtered(c)
    seen, cursor = [], None
    while True:
        rows, cursor = report.page(qs, after=cursor, size=7)
        seen.extend(r.pk for r in rows)
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == qs.count()


def test_csv_export(two_series, curator_client):
    response = curator_client.get(f"/curation/phi/{two_series.collection.slug}/export.csv?vr=LO")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["key", "element", "vr", "value"]
    assert {r[2] for r in rows[1:]} == {"LO"}
    assert ["(0008,103E)", "LO", "<Chest>"] in [r[1:4] for r in rows]


def recount(collection):
    """The report computed from scratch from the current files (what the incremental hook must equal)."""
    from collections import Counter

    from curation.phi.models import PhiFacet
    from curation.deid.engine import Deidentifier

    files, series_of_value = Counter(), {}
    for image in Image.objects.filter(series__collection=collection).select_related("stored_file"):
        for h in report._rows(Deidentifier.elements(read_image_dataset(image))):
            files[h] += 1
            series_of_value.setdefault(h, set()).add(image.series_id)
    expected = {h: (n, len(series_of_value[h])) for h, n in files.items()}
    stored = {h: (f, s) for h, f, s in PhiValue.objects.filter(collection=collection, present=True)
              .values_list("value_hash", "file_count", "series_count")}
    absent = list(PhiValue.objects.filter(collection=collection, present=False).values_list("file_count", "series_count"))
    facets = Counter()
    for v in PhiValue.objects.filter(collection=collection, present=True):
        facets[(v.vr, v.is_private, v.likely_phi, v.own_uid)] += 1
    stored_facets = {(f.vr, f.is_private, f.likely_phi, f.own_uid): f.values
                     for f in PhiFacet.objects.filter(collection=collection) if f.values}
    return expected, stored, absent, dict(facets), stored_facets


def assert_exact(collection):
    expected, stored, absent, facets, stored_facets = recount(collection)
    assert stored == expected
    assert all(a == (0, 0) for a in absent)
    assert stored_facets == facets


def test_incremental_counts_equal_a_full_recount(two_series, curator):
    from curation.phi.models import PhiSeriesValue

    c = two_series.collection
    assert_exact(c)
    images = list(Image.objects.filter(series__collection=c).order_by("pk"))

    def mutate(ds, image):
        ds.SeriesDescription = "Thorax" if image.pk % 2 else "Chest"
        ds.BodyPartExamined = "LUNG"
        return [Change("SeriesDescription", "Chest", str(ds.SeriesDescription)), Change("BodyPartExamined", "", "LUNG")]

    correction = apply_correction(collection=c, images=images[1:4], mutate=mutate, actor=curator, reason="r",
                                  kind="tag_edit", summary="s")
    assert_exact(c)
    # a hook run twice for the same bytes counts once
    image = Image.objects.get(pk=images[0].pk)
    report.add_file(collection_id=c.pk, stored_file_id=image.stored_file_id, series_id=image.series_id, image_id=image.pk,
                    elements=[("(0008,103E)", "LO", "not counted")])
    assert_exact(c)
    undo(correction=correction, actor=curator, reason="back")
    assert_exact(c)
    # more files of a new subject and of an existing series, after values went absent and came back
    ingest(two_series, [d for d, _ in series("PAT-B", "s9", "b1", images=2, series_description="Thorax")])
    assert_exact(c)
    assert PhiSeriesValue.objects.filter(files__lte=0).count() == 0


def test_values_wait_until_a_batch_is_counted_and_readers_count_them_first(two_series, curator):
    """Intake keeps each file's values as a pending row and counts them in batches; whoever reads
    the report (page, digest, sign-off status) counts what is pending first."""
    from curation.phi.models import PhiPending
    from curation.services.intake import Intake, start_batch
    from tests.checks.builders import encode

    c = two_series.collection
    sign_off(collection=c, actor=curator)
    intake = Intake(two_series, start_batch(submission=two_series, source="cli"))
    intake.take(encode(series("PAT-C", "s7", "c1", images=1, series_description="Pelvis")[0][0]), "c.dcm")
    assert PhiPending.objects.filter(collection=c).count() == 1
    assert not PhiValue.objects.filter(collection=c, value="Pelvis").exists()  # not counted yet
    status = signoff_status(c)  # a reader: counts the pending file, which invalidates the sign-off
    assert not status["valid"] and "new file" in status["invalidated_by"]
    assert PhiPending.objects.filter(collection=c).count() == 0
    assert value(c, "(0008,103E)", "Pelvis").get().file_count == 1
    assert_exact(c)


def test_intake_counts_every_flush_files_files_and_the_rest_at_the_end(two_series, monkeypatch):
    from curation.phi.models import PhiPending
    from curation.services.intake import Intake, start_batch
    from tests.checks.builders import encode

    monkeypatch.setattr(report, "FLUSH_FILES", 3)
    c = two_series.collection
    intake = Intake(two_series, start_batch(submission=two_series, source="cli"))
    files = [d for d, _ in series("PAT-D", "s8", "d1", images=7, series_description="Abdomen")]
    pending_seen = []
    for n, ds in enumerate(files):
        intake.take(encode(ds), f"d{n}.dcm")
        pending_seen.append(PhiPending.objects.filter(collection=c).count())
    assert max(pending_seen) < 3  # counted in batches of at most three files
    assert PhiPending.objects.filter(collection=c).exists()  # the last one is still pending
    intake.finish()  # the batch-end hook counts the rest
    assert not PhiPending.objects.filter(collection=c).exists()
    abdomen = value(c, "(0008,103E)", "Abdomen").get()
    assert (abdomen.file_count, abdomen.series_count) == (7, 1)
    assert_exact(c)


def test_a_file_rolled_back_with_its_transaction_leaves_nothing_pending(two_series):
    from django.db import transaction

    from curation.phi.models import PhiPending

    c = two_series.collection
    image = Image.objects.filter(series__collection=c).first()
    with pytest.raises(RuntimeError), transaction.atomic():
        report.enqueue(collection_id=c.pk, stored_file_id=10**9, series_id=image.series_id, image_id=image.pk,
                       elements=[("(0008,103E)", "LO", "never stored")])
        raise RuntimeError("intake failed after the hook")
    assert not PhiPending.objects.filter(collection=c).exists()
    assert not PhiValue.objects.filter(collection=c, value="never stored").exists()
    assert_exact(c)


def test_a_pending_row_in_the_earlier_format_is_still_counted(two_series):
    """Pending rows written before the marshal format (zlib-compressed JSON) are counted like
    today's; a value with characters JSON escapes comes back as it went in, and a VR given as
    pydicom's VR enum is stored as its text."""
    import json
    import zlib

    from curation.phi.models import PhiPending

    c = two_series.collection
    image = Image.objects.filter(series__collection=c).first()
    from pydicom.valuerep import VR

    report.enqueue(collection_id=c.pk, stored_file_id=10**9, series_id=image.series_id, image_id=image.pk,
                   elements=[("(0008,103E)", VR.LO, 'new "format" \\ é')])  # pydicom's VR: a str subclass
    old = [["(0008,1030)", "LO", "old format"]]
    PhiPending.objects.create(collection=c, stored_file_id=10**9 + 1, series_id=image.series_id, image_id=image.pk,
                              rows=zlib.compress(json.dumps(old).encode(), 1), note="an earlier file")
    report.flush(c.pk)
    new = value(c, "(0008,103E)", 'new "format" \\ é').get()
    assert (new.file_count, new.vr) == (1, "LO")
    assert value(c, "(0008,1030)", "old format").get().file_count == 1
