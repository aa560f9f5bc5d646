import io
import zipfile

import pydicom
import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from collections_app.models import Image, Series
from curation import hooks
from curation.models import ConflictingFile, IntakeBatch, IntakeItem, QuarantinedFile, SubjectMapping, original_key
from curation.services.intake import Intake, start_batch
from curation.services.submissions import import_subject_map

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db

ORIGINAL_NAME = "CompressedSamples^CT1"  # PatientName in pydicom's CT_small.dcm


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    # Uploads queue their processing on commit; tests run that task synchronously.
    global _capture
    _capture = django_capture_on_commit_callbacks


def upload(client, submission, *files):
    with _capture(execute=True):
        return client.post(reverse("curation:upload", args=[submission.pk]), {"files": list(files)})


def all_archive_bytes():
    storage = storages["archive"]
    out = []
    for image in Image.objects.select_related("stored_file"):
        with storage.open(image.stored_file.storage_name, "rb") as fh:
            out.append(fh.read())
    return out


def test_browser_upload_deidentifies_stores_and_indexes(curator_client):
    submission = make_submission()
    ct = SimpleUploadedFile("ct.dcm", sample_bytes("CT_small.dcm"))
    mr = SimpleUploadedFile("mr.dcm", sample_bytes("MR_small.dcm"))
    response = upload(curator_client, submission, ct, mr)
    assert response.status_code == 302
    batch = IntakeBatch.objects.get()
    assert response["Location"] == reverse("curation:batch", args=[batch.pk])
    assert (batch.state, batch.processed, batch.accepted, batch.rejected) == ("done", 2, 2, 0)
    page = curator_client.get(response["Location"]).content.decode()
    assert "ct.dcm" in page and "mr.dcm" in page and "Accepted" in page
    # indexed under de-identified subject IDs
    assert set(Series.objects.values_list("subject__patient_id", flat=True)) <= {"ITEST-0001", "ITEST-0002"}
    for data in all_archive_bytes():
        ds = pydicom.dcmread(io.BytesIO(data))
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.PatientName).startswith("ITEST-")
        assert ORIGINAL_NAME.encode() not in data
    # staged originals are gone once processed
    assert not storages["quarantine"].listdir(f"incoming/{batch.pk}")[1]
    submission.collection.refresh_from_db()
    assert submission.collection.image_count == 2


def test_status_endpoint_reports_progress_and_items(curator_client):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("a.dcm", sample_bytes()))
    batch = IntakeBatch.objects.get()
    status = curator_client.get(reverse("curation:batch_status", args=[batch.pk])).json()
    assert status["state"] == "done" and status["processed"] == 1 and status["accepted"] == 1
    assert [i["name"] for i in status["items"]] == ["a.dcm"]
    later = curator_client.get(reverse("curation:batch_status", args=[batch.pk]), {"since": status["items"][0]["id"]}).json()
    assert later["items"] == []


def test_zip_upload_is_expanded(curator_client):
    submission = make_submission()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("series1/ct.dcm", sample_bytes())
        zf.writestr("series2/mr.dcm", sample_bytes("MR_small.dcm"))
        zf.writestr("notes.txt", "not dicom")
    upload(curator_client, submission, SimpleUploadedFile("batch.zip", buffer.getvalue()))
    batch = IntakeBatch.objects.get()
    outcomes = dict(batch.items.values_list("name", "outcome"))
    assert outcomes == {"batch.zip/series1/ct.dcm": "accepted", "batch.zip/series2/mr.dcm": "accepted",
                        "batch.zip/notes.txt": "rejected"}
    assert batch.total == 3


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def _truncated():
    data = sample_bytes()
    return data[: len(data) - 5000]  # cut inside the pixel data


BAD_INPUTS = [
    ("not DICOM", "readme.txt", b"just some text, not an image", "not a dicom"),
    ("truncated", "cut.dcm", _truncated(), "truncat"),
    ("missing SOP Instance UID", "nouid.dcm", sample_bytes(SOPInstanceUID=None), "sopinstanceuid"),
    ("missing Series UID", "noseries.dcm", sample_bytes(SeriesInstanceUID=None), "seriesinstanceuid"),
]


@pytest.mark.parametrize("label,name,data,reason", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_files_are_quarantined_with_reason_and_the_batch_goes_on(curator_client, label, name, data, reason):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile(name, data), SimpleUploadedFile("good.dcm", sample_bytes()))
    batch = IntakeBatch.objects.get()
    assert (batch.accepted, batch.rejected) == (1, 1)
    bad = batch.items.get(outcome="rejected")
    assert bad.name == name
    assert reason in bad.reason.lower()
    q = QuarantinedFile.objects.get()
    assert q.reason == bad.reason and q.original_name == name
    with storages["quarantine"].open(q.storage_name, "rb") as fh:
        assert fh.read() == data


def test_unsupported_transfer_syntax_is_quarantined(curator_client):
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder here
    ds.PixelData = pydicom.encaps.encapsulate([ds.PixelData])
    out = io.BytesIO()
    ds.save_as(out)
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("mpeg.dcm", out.getvalue()))
    item = IntakeItem.objects.get()
    assert item.outcome == "rejected" and "unsupported transfer syntax 1.2.840.10008.1.2.4.100" in item.reason


def test_zip_bomb_and_path_traversal_entries_are_rejected(curator_client):
    submission = make_submission()
    data = _zip([("../../etc/evil.dcm", sample_bytes()), ("bomb.dcm", b"\0" * (20 * 1024 * 1024)), ("ok/good.dcm", sample_bytes())])
    upload(curator_client, submission, SimpleUploadedFile("mixed.zip", data))
    items = {i.name: i for i in IntakeItem.objects.all()}
    assert "path traversal" in items["mixed.zip/../../etc/evil.dcm"].reason
    assert "zip bomb" in items["mixed.zip/bomb.dcm"].reason
    assert items["mixed.zip/ok/good.dcm"].outcome == "accepted"
    assert QuarantinedFile.objects.count() == 2


def test_file_over_the_size_limit_is_rejected(curator_client, settings):
    settings.TCIA_MAX_FILE_BYTES = 10_000
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("big.dcm", sample_bytes()))
    item = IntakeItem.objects.get()
    assert item.outcome == "rejected" and "exceeds the per-file limit of 10000 bytes" in item.reason


def test_resending_the_same_file_changes_nothing(curator_client):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("a.dcm", sample_bytes()))
    before = list(Image.objects.values_list("pk", "stored_file__sha256"))
    upload(curator_client, submission, SimpleUploadedFile("a-again.dcm", sample_bytes()))
    assert list(Image.objects.values_list("pk", "stored_file__sha256")) == before
    second = IntakeBatch.objects.order_by("pk").last()
    assert (second.accepted, second.unchanged) == (0, 1)
    assert SubjectMapping.objects.count() == 1


def test_same_uid_with_other_content_is_kept_and_flagged(curator_client):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("a.dcm", sample_bytes()))
    upload(curator_client, submission, SimpleUploadedFile("b.dcm", sample_bytes(SeriesDescription="changed content")))
    image = Image.objects.get()  # one image per instance: the other content is kept beside it
    item = IntakeItem.objects.get(name="b.dcm")
    assert item.outcome == "conflict" and "flagged" in item.reason and "SeriesDescription" in item.reason
    conflict = ConflictingFile.objects.get()
    assert conflict.image == image and conflict.stored_file == item.stored_file != image.stored_file
    assert conflict.differences == ["SeriesDescription"] and not conflict.pixels_differ


def test_imported_subject_map_is_used_and_stores_no_original_ids(curator):
    submission = make_submission()
    original_id = str(pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False)).PatientID)
    import_subject_map(submission=submission, text=f"original_patient_id,subject_id,date_offset_days\n{original_id},ITEST-0042,-2000\n", actor=curator)
    mapping = SubjectMapping.objects.get()
    assert mapping.original_key == original_key(original_id) and original_id not in mapping.original_key
    batch = start_batch(submission=submission, source="cli")
    item = Intake(submission, batch).take(sample_bytes(), "x.dcm")
    assert item.image.series.subject.patient_id == "ITEST-0042"


def test_subject_map_csv_errors_name_the_line(curator_client):
    submission = make_submission()
    csv_file = SimpleUploadedFile("map.csv", b"original_patient_id,subject_id,date_offset_days\nP1,S1,-10\nP2,,-3\n")
    response = curator_client.post(reverse("curation:subjects", args=[submission.pk]), {"csv_file": csv_file}, follow=True)
    assert "map.csv: line 3" in response.content.decode()
    assert SubjectMapping.objects.count() == 0  # the import is all or nothing


def test_ingest_hook_receives_the_deidentified_elements(curator):
    seen = []

    def hook(*, submission, image, elements, replaced_file=None):
        seen.append((image.sop_instance_uid, elements))

    hooks.register_ingest_hook(hook)
    try:
        submission = make_submission()
        batch = start_batch(submission=submission, source="cli")
        Intake(submission, batch).take(sample_bytes(), "x.dcm")
    finally:
        hooks.unregister_ingest_hook(hook)
    assert len(seen) == 1
    sop, elements = seen[0]
    values = {path: value for path, vr, value in elements}
    assert any("(0010,0010)" in p for p in values)
    assert all(ORIGINAL_NAME not in str(v) for v in values.values())
    assert any(str(v) == sop for v in values.values())


def test_ingest_command_with_progress_and_errors(tmp_path, capsys):
    submission = make_submission()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ct.dcm").write_bytes(sample_bytes())
    (tmp_path / "junk.bin").write_bytes(b"junk")
    out = io.StringIO()
    call_command("ingest", str(tmp_path), collection=submission.collection.slug, no_progress=True, stdout=out)
    text = out.getvalue()
    assert "1 accepted" in text and "1 rejected" in text and "junk.bin" in text
    assert Image.objects.count() == 1


def test_purge_quarantine_removes_bytes_and_keeps_reasons(curator_client):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("junk.txt", b"junk"))
    q = QuarantinedFile.objects.get()
    assert storages["quarantine"].exists(q.storage_name)
    call_command("purge_quarantine", days=0, stdout=io.StringIO())
    q.refresh_from_db()
    assert q.purged_at is not None and q.storage_name == "" and q.reason
    assert curator_client.get(reverse("curation:quarantine_download", args=[q.pk])).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "plain_user", "submitter", "committee_member"])
def test_curation_pages_are_404_for_non_curators(client, request, who):
    submission = make_submission()
    upload_batch = start_batch(submission=submission, source="cli")
    item = Intake(submission, upload_batch).take(b"junk", "junk.txt")
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    urls = [
        reverse("curation:dashboard"),
        reverse("curation:submission", args=[submission.pk]),
        reverse("curation:batch", args=[upload_batch.pk]),
        reverse("curation:batch_status", args=[upload_batch.pk]),
        reverse("curation:quarantine", args=[submission.pk]),
        reverse("curation:quarantine_download", args=[item.quarantined.pk]),
        reverse("curation:subjects", args=[submission.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("curation:upload", args=[submission.pk]), {"files": [SimpleUploadedFile("a.dcm", b"x")]}).status_code == 404
    assert IntakeBatch.objects.count() == 1


def test_curator_downloads_a_quarantined_original(curator_client):
    submission = make_submission()
    upload(curator_client, submission, SimpleUploadedFile("junk.txt", b"original junk"))
    q = QuarantinedFile.objects.get()
    response = curator_client.get(reverse("curation:quarantine_download", args=[q.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"original junk"


def test_submission_page_links_every_curation_step(curator_client):
    submission = make_submission()
    html = curator_client.get(reverse("curation:submission", args=[submission.pk])).content.decode()
    slug = submission.collection.slug
    for url in (f"/curation/checks/{slug}/", f"/curation/review/c/{slug}/", f"/curation/phi/{slug}/", f"/collections/{slug}/publish/"):
        assert f'href="{url}"' in html
        assert curator_client.get(url).status_code == 200, url


def test_a_chunk_is_taken_with_the_garbage_collector_paused_and_back_on_after(curator, monkeypatch):
    """take_many pauses the cyclic collector for its chunk (bench/ingest.py: ~1 ms a file) and turns
    it back on after, also when the chunk fails outright; a collector that was off stays off."""
    import gc

    states = []

    def hook(*, submission, image, elements, replaced_file=None):
        states.append(gc.isenabled())

    submission = make_submission()
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    hooks.register_ingest_hook(hook)
    try:
        items = intake.take_many([(sample_bytes(SOPInstanceUID=f"1.2.826.0.1.3680043.2.1125.{n}"), f"{n}.dcm", None)
                                  for n in range(3)])
    finally:
        hooks.unregister_ingest_hook(hook)
    assert [i.outcome for i in items] == ["accepted"] * 3
    assert states == [False, False, False] and gc.isenabled()

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(intake, "_take_many", broken)
    with pytest.raises(RuntimeError):
        intake.take_many([(sample_bytes(), "x.dcm", None)])
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.undo()
        intake.take_many([(sample_bytes(SOPInstanceUID="1.2.826.0.1.3680043.2.1125.9"), "9.dcm", None)])
        assert not gc.isenabled()
    finally:
        gc.enable()
    intake.finish()


def test_a_chunk_over_several_series_counts_each_series_exactly(curator):
    """index_many adds each series' images and bytes in one UPDATE per 100 series: every series'
    image_count and total_bytes are its own images' count and sizes, also when a second chunk adds
    to series the first one created."""
    submission = make_submission()
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    root = "1.2.826.0.1.3680043.2.1125.77"
    files = [(sample_bytes(SeriesInstanceUID=f"{root}.9.{n % 3}", SOPInstanceUID=f"{root}.{n}",
                           InstanceNumber=n + 1, ImageComments="x" * n), f"{n}.dcm", None) for n in range(7)]
    assert [i.outcome for i in intake.take_many(files[:5])] == ["accepted"] * 5
    assert [i.outcome for i in intake.take_many(files[5:])] == ["accepted"] * 2
    intake.finish()
    series = Series.objects.filter(collection=submission.collection)
    assert series.count() == 3
    for s in series:
        images = list(Image.objects.filter(series=s))
        assert s.image_count == len(images) and s.total_bytes == sum(i.file_size for i in images)
    assert sorted(s.image_count for s in series) == [2, 2, 3]
    assert len({i.file_size for i in Image.objects.all()}) > 1  # sizes differ: a swapped total would show


def test_pixel_hashes_of_a_chunk_belong_to_their_own_files(curator):
    """A chunk's pixel hashes are computed on two threads: each file's FileFacts carries the hash
    of its own decoded pixels (pydicom's pixel_array, hashed here independently)."""
    import hashlib

    import numpy as np

    from curation.checks.models import FileFacts

    base = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False))
    submission = make_submission()
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    files = []
    for n in range(10):
        pixels = bytearray(base.PixelData)
        pixels[2 * n] = (pixels[2 * n] + 1 + n) % 256  # each file its own pixels
        files.append((sample_bytes(SOPInstanceUID=f"1.2.826.0.1.3680043.2.1125.88.{n}", PixelData=bytes(pixels)),
                      f"{n}.dcm", None))
    assert [i.outcome for i in intake.take_many(files)] == ["accepted"] * 10
    intake.finish()
    seen = set()
    for image in Image.objects.filter(collection=submission.collection).select_related("stored_file"):
        with storages["archive"].open(image.stored_file.storage_name, "rb") as fh:
            arr = np.ascontiguousarray(pydicom.dcmread(fh).pixel_array)
        expected = hashlib.sha256(str((arr.shape, arr.dtype.str.lstrip("<>=|"))).encode())
        expected.update(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        facts = FileFacts.objects.get(stored_file=image.stored_file)
        assert facts.pixel_hashed and facts.pixel_hash == expected.hexdigest()
        seen.add(facts.pixel_hash)
    assert len(seen) == 10


def test_multi_valued_texts_are_indexed_as_dicom_writes_them(curator):
    """SoftwareVersions with two values is indexed "V1\\V2" (it was str() of pydicom's MultiValue:
    "['V1', 'V2']"); migration 0008 rewrites rows indexed the old way and leaves other text alone."""
    import importlib

    from django.apps import apps

    submission = make_submission()
    item = Intake(submission, start_batch(submission=submission, source="cli")).take(
        sample_bytes(SoftwareVersions=["V1", "V2.5"], Manufacturer="ACME"), "x.dcm")
    series = item.image.series
    assert series.software_versions == "V1\\V2.5" and series.manufacturer == "ACME"

    migration = importlib.import_module("collections_app.migrations.0008_multivalued_index_text")
    Series.objects.filter(pk=series.pk).update(software_versions="['V1', 'V2.5']", protocol_name="['not', closed",
                                               series_description="[brackets] kept")
    migration.rewrite(apps, None)
    series.refresh_from_db()
    assert series.software_versions == "V1\\V2.5"
    assert series.protocol_name == "['not', closed" and series.series_description == "[brackets] kept"
    assert migration.joined("['a']") == "a" and migration.joined("[1, 2]") is None and migration.joined("['x'") is None
