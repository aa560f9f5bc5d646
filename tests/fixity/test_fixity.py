"""The fixity audit on the local folder storage: incremental runs, the record of each run, a
damaged file found, the admins e-mailed, its downloads refused on every path (others served),
the staff page, and a curator's re-verification and restore."""
import io
import zipfile

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_q.models import Schedule

from collections_app.models import StoredFile, VersionEntry
from fixity import services
from fixity.models import FixityFailure, FixityRecord, FixityRun
from tests.s3 import overwrite_stored, read_stored, remove_stored

pytestmark = pytest.mark.django_db


def damage(stored: StoredFile) -> bytes:
    original = read_stored(stored.storage_name)
    overwrite_stored(stored.storage_name, original[:-1] + bytes([original[-1] ^ 0xFF]))
    return original


@pytest.fixture
def victim(published):
    """One file of the published version, damaged behind the portal's back (restored after)."""
    entry = VersionEntry.objects.filter(version=published).select_related("stored_file", "series__study").order_by("pk").first()
    original = damage(entry.stored_file)
    yield entry
    overwrite_stored(entry.stored_file.storage_name, original)


def test_the_schedule_exists_and_runs_the_audit():
    schedule = Schedule.objects.get(name="fixity audit")
    assert schedule.func == "fixity.tasks.scheduled_run" and schedule.repeats == -1
    from fixity.tasks import scheduled_run

    assert "0 failures" in scheduled_run()


def test_runs_are_incremental_least_recently_verified_first(published, admins):
    total = StoredFile.objects.count()
    first = services.run_audit(max_files=4, max_seconds=0)
    assert first.run.files_checked == 4 and first.run.registered == total
    assert first.run.remaining_due == total - 4
    checked_first = set(FixityRecord.objects.filter(last_verified_at__isnull=False).values_list("pk", flat=True))
    second = services.run_audit(max_files=4, max_seconds=0)
    checked_now = set(FixityRecord.objects.filter(last_verified_at__isnull=False).values_list("pk", flat=True))
    assert len(checked_now) == 8 and checked_first < checked_now  # new files, not the same four again
    rest = services.run_audit(max_seconds=0)
    assert rest.run.files_checked == total - 8 and rest.run.remaining_due == 0
    # Within the cycle nothing is due; with a cycle of 0 days everything is, oldest first.
    assert services.run_audit(max_seconds=0).run.files_checked == 0
    oldest = FixityRecord.objects.order_by("last_verified_at", "pk").first()
    again = services.run_audit(max_files=1, max_seconds=0, cycle=0)
    oldest.refresh_from_db()
    assert again.run.files_checked == 1 and oldest.last_verified_at > rest.run.started_at
    runs = list(FixityRun.objects.order_by("pk"))
    assert [r.files_checked for r in runs] == [4, 4, total - 8, 0, 1]
    assert all(r.state == "done" and r.failures == 0 and r.finished_at for r in runs)
    assert runs[0].bytes_checked == sum(FixityRecord.objects.filter(
        pk__in=checked_first).values_list("size", flat=True))
    assert mail.outbox == []


def test_a_run_stops_at_its_time_budget(published, monkeypatch):
    clock = iter(range(0, 10_000, 10))  # every reading of the clock: 10 s later
    monkeypatch.setattr(services.time, "monotonic", lambda: next(clock))
    run = services.run_audit(max_seconds=25, rate=0).run
    assert 0 < run.files_checked < StoredFile.objects.count()


def test_the_rate_limit_sleeps_to_stay_under_the_bytes_per_second(monkeypatch):
    now = [100.0]
    slept = []
    monkeypatch.setattr(services.time, "monotonic", lambda: now[0])

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(services.time, "sleep", sleep)
    limit = services.RateLimit(1000)
    for _ in range(5):
        limit.consumed(1000)  # reading itself takes no time here: every second of the five is slept
    assert sum(slept) == pytest.approx(5.0)
    slept.clear()
    unlimited = services.RateLimit(0)
    unlimited.consumed(10**9)
    assert slept == []


def test_a_damaged_file_is_recorded_mailed_and_blocked(victim, admins, client):
    result = services.run_audit(max_seconds=0)
    run = result.run
    assert run.failures == 1 and run.files_checked == StoredFile.objects.count()
    failure = FixityFailure.objects.get()
    assert failure.run == run and failure.kind == "mismatch" and failure.record.stored_file == victim.stored_file
    assert failure.observed_sha256 and failure.observed_sha256 != victim.stored_file.sha256
    assert FixityRecord.objects.filter(blocked=True).count() == 1
    assert FixityRecord.objects.filter(status="ok").count() == StoredFile.objects.count() - 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["admin@example.org"] and "Fixity failure" in message.subject
    collection = victim.version.collection
    assert victim.stored_file.sha256 in message.body and collection.slug in message.body and "versions 1" in message.body
    # The next run neither re-reads the blocked file nor mails again.
    again = services.run_audit(max_seconds=0, cycle=0)
    assert again.run.failures == 0 and again.run.files_checked == StoredFile.objects.count() - 1
    assert len(mail.outbox) == 1


def _blocked(response) -> bool:
    body = response.content if not response.streaming else b"".join(response.streaming_content)
    return response.status_code == 503 and b"fixity" in body and b"nothing was sent" in body


def test_every_download_path_refuses_the_damaged_file_and_serves_the_others(victim, admins, client):
    services.run_audit(max_seconds=0)
    version = victim.version
    series, study = victim.series, victim.series.study
    other = VersionEntry.objects.filter(version=version).exclude(series=series).select_related("series__study").first()
    sop = victim.sop_instance_uid

    assert _blocked(client.get(reverse("data_version_file", args=[version.pk, sop])))
    assert _blocked(client.get(reverse("data_version_zip", args=[version.pk])))
    assert _blocked(client.get(reverse("data_series_zip", args=[series.series_instance_uid])))
    assert _blocked(client.get(reverse("data_study_zip", args=[study.study_instance_uid])))
    nbia = reverse("nbia:service", args=["v4", "getImage"])
    assert _blocked(client.get(nbia, {"SeriesInstanceUID": series.series_instance_uid}))
    single = reverse("nbia:service", args=["v4", "getSingleImage"])
    assert _blocked(client.get(single, {"SeriesInstanceUID": series.series_instance_uid, "SOPInstanceUID": sop}))
    servlet = reverse("retriever_download")
    assert _blocked(client.post(servlet, {"seriesUid": series.series_instance_uid, "sopUids": ""}))
    wado = f"/dicomweb/studies/{study.study_instance_uid}/series/{series.series_instance_uid}"
    assert _blocked(client.get(f"{wado}/instances/{sop}", HTTP_ACCEPT="application/dicom"))
    assert _blocked(client.get(wado, HTTP_ACCEPT='multipart/related; type="application/dicom"'))
    assert _blocked(client.get(f"{wado}/instances/{sop}/frames/1", HTTP_ACCEPT="multipart/related; type=\"application/octet-stream\""))
    assert _blocked(client.get(f"{wado}/instances/{sop}/rendered", HTTP_ACCEPT="image/jpeg"))
    # Metadata is not the file's bytes: still served.
    assert client.get(f"{wado}/instances/{sop}/metadata", HTTP_ACCEPT="application/dicom+json").status_code == 200

    # The files that passed are served as before.
    ok_file = client.get(reverse("data_version_file", args=[version.pk, other.sop_instance_uid]))
    assert ok_file.status_code == 200 and b"".join(ok_file.streaming_content) == read_stored(other.stored_file.storage_name)
    ok_zip = client.get(reverse("data_series_zip", args=[other.series.series_instance_uid]))
    assert ok_zip.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(ok_zip.streaming_content))).namelist()
    assert sum(n.endswith(".dcm") for n in names) == other.series.images.count()
    ok_nbia = client.get(nbia, {"SeriesInstanceUID": other.series.series_instance_uid})
    assert ok_nbia.status_code == 200


def test_the_staff_page_shows_the_failure_with_its_collection_and_version(victim, admins, client, curator_client, plain_user):
    services.run_audit(max_seconds=0)
    failure = FixityFailure.objects.get()
    page = curator_client.get(reverse("fixity:dashboard"))
    html = page.content.decode()
    assert page.status_code == 200 and f'data-failure="{failure.pk}"' in html
    assert victim.version.collection.title in html and "version 1" in html
    run = FixityRun.objects.get()
    assert f'data-run="{run.pk}"' in html
    detail = curator_client.get(reverse("fixity:failure", args=[failure.pk])).content.decode()
    assert victim.stored_file.sha256 in detail and failure.observed_sha256 in detail and 'data-blocked="yes"' in detail
    from django.test import Client

    other = Client()
    assert other.get(reverse("fixity:dashboard")).status_code == 404
    other.force_login(plain_user)
    assert other.get(reverse("fixity:failure", args=[failure.pk])).status_code == 404


def test_a_curator_re_verifies_then_restores_the_file(victim, admins, client, curator_client):
    services.run_audit(max_seconds=0)
    failure = FixityFailure.objects.get()
    file_url = reverse("data_version_file", args=[victim.version.pk, victim.sop_instance_uid])
    # Still damaged: re-verifying keeps it blocked.
    curator_client.post(reverse("fixity:reverify", args=[failure.pk]))
    failure.refresh_from_db()
    assert failure.open and failure.record.blocked and _blocked(client.get(file_url))
    # A wrong copy is refused and writes nothing.
    damaged_now = read_stored(victim.stored_file.storage_name)
    wrong = SimpleUploadedFile("copy.dcm", b"x" * victim.stored_file.size)
    curator_client.post(reverse("fixity:restore", args=[failure.pk]), {"file": wrong})
    assert read_stored(victim.stored_file.storage_name) == damaged_now
    failure.refresh_from_db()
    assert failure.open
    # The right bytes (from a backup): written back, verified, downloads open again.
    from tests.fixity.test_fixity import _original_of

    good = _original_of(damaged_now)
    curator_client.post(reverse("fixity:restore", args=[failure.pk]), {"file": SimpleUploadedFile("copy.dcm", good),
                                                                       "note": "from the tape backup"})
    failure.refresh_from_db()
    assert not failure.open and failure.resolution == "restored" and failure.resolution_note == "from the tape backup"
    assert not FixityRecord.objects.get(pk=failure.record_id).blocked
    response = client.get(file_url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == good
    from tcia.core.models import AuditEvent

    assert AuditEvent.objects.filter(action="fixity.restored", actor__isnull=False).count() == 1


def _original_of(damaged: bytes) -> bytes:
    """Undo `damage` (the last byte was inverted)."""
    return damaged[:-1] + bytes([damaged[-1] ^ 0xFF])


def test_re_verifying_opens_a_file_whose_storage_came_back(published, admins, curator_client):
    entry = VersionEntry.objects.filter(version=published).select_related("stored_file").first()
    original = read_stored(entry.stored_file.storage_name)
    remove_stored(entry.stored_file.storage_name)  # an unmounted volume, say
    try:
        services.run_audit(max_seconds=0)
        failure = FixityFailure.objects.get()
        assert failure.kind == "missing" and "Missing" in mail.outbox[0].body
    finally:
        overwrite_stored(entry.stored_file.storage_name, original)
    curator_client.post(reverse("fixity:reverify", args=[failure.pk]), {"note": "volume remounted"})
    failure.refresh_from_db()
    assert failure.resolution == "reverified" and not failure.record.blocked


def test_quarantined_originals_kept_whole_are_audited_too(admins):
    from curation.services.intake import quarantine
    from tests.curation.intake_helpers import make_submission, sample_bytes

    submission = make_submission(slug="fixity-q", prefix="FQ")
    kept = quarantine(submission, None, "bad.dcm", "Test reason", data=sample_bytes("CT_small.dcm"), keep_whole=True)
    head_only = quarantine(submission, None, "notes.txt", "Not DICOM", data=b"not dicom " * 1000, keep_whole=False)
    services.run_audit(max_seconds=0)
    records = FixityRecord.objects.filter(storage="quarantine")
    assert list(records.values_list("quarantined_file_id", flat=True)) == [kept.pk]  # not the one kept in part
    overwrite_stored(kept.storage_name, b"changed", kind="quarantine")
    services.run_audit(max_seconds=0, cycle=0)
    failure = FixityFailure.objects.get()
    assert failure.kind == "size" and failure.record.quarantined_file == kept
    assert submission.collection.slug in mail.outbox[0].body
    assert head_only.pk not in set(FixityRecord.objects.values_list("quarantined_file_id", flat=True))


def test_fixity_check_command_records_a_run(victim, admins):
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("fixity_check", stdout=io.StringIO(), stderr=err, verbosity=0)
    assert victim.stored_file.sha256 in err.getvalue()
    run = FixityRun.objects.get()
    assert run.trigger == "command" and run.failures == 1 and run.files_checked == victim.version.entries.count()
    assert len(mail.outbox) == 1


def test_registration_of_a_large_backlog_goes_on_from_run_to_run(published, monkeypatch):
    total = StoredFile.objects.count()
    monkeypatch.setattr(services, "REGISTER_PER_RUN", 5)
    monkeypatch.setattr(services, "REGISTER_OVERLAP", 2)
    registered = []
    while len(registered) < 10 and FixityRecord.objects.count() < total:
        registered.append(services.register_new(batch=5, max_rows=services.REGISTER_PER_RUN))
    assert FixityRecord.objects.count() == total and all(n <= 5 for n in registered) and sum(registered) == total
    assert services.register_new(batch=5) == 0  # nothing twice
    assert set(FixityRecord.objects.values_list("stored_file_id", flat=True)) == set(StoredFile.objects.values_list("pk", flat=True))


def test_a_run_does_not_start_beside_another_and_a_dead_one_is_marked(published):
    from datetime import timedelta

    from django.utils import timezone

    going = FixityRun.objects.create(trigger="schedule")
    assert services.run_audit(max_seconds=60).run is None and FixityRun.objects.count() == 1
    FixityRun.objects.filter(pk=going.pk).update(started_at=timezone.now() - timedelta(seconds=60 + 301))
    result = services.run_audit(max_seconds=60)
    going.refresh_from_db()
    assert going.state == "error" and "stopped" in going.note
    assert result.run is not None and result.run.files_checked == StoredFile.objects.count()


def test_a_curator_starts_a_run_from_the_page(published, curator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(reverse("fixity:run_now"))
    assert response.status_code == 302
    run = FixityRun.objects.get()
    assert run.trigger == "curator" and run.files_checked == StoredFile.objects.count()
