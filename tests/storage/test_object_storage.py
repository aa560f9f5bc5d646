"""The archive, quarantine and derived storages in an S3 bucket (moto's standalone server; see
tests/s3.py): intake into the bucket, publication, downloads of every kind compared byte for
byte with the objects, fixity against a tampered object, and the promises object storage adds
(one copy per content, streaming in constant memory, nothing written to a local folder)."""
import hashlib
import io
import subprocess
import sys
import tarfile
import threading
import tracemalloc
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from collections_app.models import Image, StoredFile
from collections_app.services import publish as publish_module
from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes, verify
from curation.dicom.synth import write_corpus
from curation.models import IntakeBatch, QuarantinedFile
from tcia.core import objectstore
from tcia.storage_config import storage_backend
from tests import s3
from tests.curation.intake_helpers import make_submission, sample_bytes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture(scope="module")
def bucket(_object_storage_session):
    """The session's bucket when the whole run is on S3, else a bucket of our own for this module."""
    yield from s3.module_bucket(_object_storage_session)


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    c = s3.client()
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            out[entry["Key"]] = c.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return out


def archive_object(bucket: str, sha: str) -> bytes:
    return s3.client().get_object(Bucket=bucket, Key=f"archive/{sha[:2]}/{sha[2:4]}/{sha}")["Body"].read()


def local_files() -> list[Path]:
    return [p for p in Path(settings.STORAGE_ROOT).rglob("*") if p.is_file()]


# Settings ----------------------------------------------------------------------------------------


def test_each_storage_is_chosen_from_the_environment(tmp_path):
    env = {"AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "eu-west-1"}
    entry = storage_backend("s3://tcia-archive/prod/v1/", variable="TCIA_ARCHIVE_STORAGE", default_folder=tmp_path, environ=env)
    assert entry["BACKEND"] == "tcia.core.s3storage.S3Storage"
    opts = entry["OPTIONS"]
    assert (opts["bucket_name"], opts["location"], opts["endpoint_url"], opts["region_name"], opts["addressing_style"]) == (
        "tcia-archive", "prod/v1", "http://127.0.0.1:9000", "eu-west-1", "path")
    assert storage_backend("", variable="X", default_folder=tmp_path)["OPTIONS"]["location"] == tmp_path
    assert storage_backend("/srv/q", variable="X", default_folder=tmp_path)["OPTIONS"]["location"] == Path("/srv/q")
    for bad in ("s3://", "minio://b", "relative/folder", "s3://b/../x"):
        with pytest.raises(ImproperlyConfigured, match="TCIA_QUARANTINE_STORAGE"):
            storage_backend(bad, variable="TCIA_QUARANTINE_STORAGE", default_folder=tmp_path)


def test_the_settings_put_the_three_storages_in_buckets_and_keep_folders_by_default(tmp_path):
    code = ("import django; django.setup(); from django.core.files.storage import storages as s; "
            "print(*[type(s[k]).__name__ + ':' + getattr(s[k], 'bucket_name', '') + ':' + str(getattr(s[k], 'location', ''))"
            " for k in ('archive', 'quarantine', 'derived')])")
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tcia.settings", "DJANGO_DEBUG": "1",
            "TCIA_VAR_DIR": str(tmp_path)}
    env = dict(base, TCIA_ARCHIVE_STORAGE="s3://arch/a", TCIA_QUARANTINE_STORAGE="s3://quar",
               TCIA_DERIVED_STORAGE=str(tmp_path / "derived"), AWS_S3_ENDPOINT_URL="http://127.0.0.1:1")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["S3Storage:arch:a", "S3Storage:quar:", f"FileSystemStorage::{tmp_path / 'derived'}"]
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, check=True).stdout
    assert [w.split(":")[0] for w in out.split()] == ["FileSystemStorage"] * 3


# The content-addressed store -------------------------------------------------------------------


def test_store_bytes_writes_one_object_in_the_bucket_and_nothing_on_disk(bucket):
    before = set(local_files())
    data = b"DICOM-ish bytes for the bucket " * 1000
    stored = store_bytes(data)
    assert archive_object(bucket, stored.sha256) == data
    assert stored.path() is None and objectstore.local_path(storages["archive"], stored.storage_name) is None
    assert store_bytes(data).pk == stored.pk
    assert verify(stored)
    assert set(local_files()) == before


def test_concurrent_writers_of_the_same_bytes_leave_one_object_version():
    """Eight workers store the same content at once into a versioned bucket: one writes, the
    others find it; the bucket holds one version, not eight copies."""
    url = s3.endpoint()
    name = s3.new_bucket(url, versioned=True)
    entry = s3.storages_setting({}, url, name)["archive"]
    from tcia.core.s3storage import S3Storage

    storage = S3Storage(**entry["OPTIONS"])
    data = b"the same content from every worker" * 100
    key = hashlib.sha256(data).hexdigest()
    barrier = threading.Barrier(8)
    wrote = []

    def worker():
        barrier.wait()
        wrote.append(objectstore.save_once(storage, key, data))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wrote) == [False] * 7 + [True]
    versions = s3.client().list_object_versions(Bucket=name, Prefix=f"archive/{key}").get("Versions", [])
    assert len(versions) == 1


# Intake, publication and every download path ---------------------------------------------------


@pytest.fixture
def released(bucket, curator_client, tmp_path, django_capture_on_commit_callbacks, monkeypatch):
    """A submission received through the browser (two samples, a zip of a synthesized series and
    a non-DICOM file) and `manage.py ingest`, published as version 1 with the review and PHI
    gates lifted (they judge curation, not storage)."""
    before = set(local_files())  # other tests of the session may have left files in the local folders
    submission = make_submission(slug="s3-intake", prefix="S3T")
    corpus = write_corpus(tmp_path / "corpus", 4, patients=1, large_share=0.5)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        for p in corpus[:2]:
            zf.write(p, p.name)
    files = [SimpleUploadedFile("ct.dcm", sample_bytes("CT_small.dcm")),
             SimpleUploadedFile("mr.dcm", sample_bytes("MR_small.dcm")),
             SimpleUploadedFile("series.zip", zipped.getvalue()),
             SimpleUploadedFile("notes.txt", b"not a DICOM file at all")]
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(reverse("curation:upload", args=[submission.pk]), {"files": files})
    assert response.status_code == 302
    folder = tmp_path / "more"
    folder.mkdir()
    for p in corpus[2:]:
        (folder / p.name).write_bytes(p.read_bytes())
    call_command("ingest", str(folder), collection=submission.collection.slug, no_progress=True, stdout=io.StringIO())
    monkeypatch.setattr(publish_module, "_GATES", [])
    version = publish(submission.collection, actor=None, notes="through the bucket")
    return {"submission": submission, "version": version, "bucket": bucket, "corpus": corpus, "local_before": before}


def test_intake_stores_into_the_buckets(released, curator_client):
    bucket, submission = released["bucket"], released["submission"]
    batches = IntakeBatch.objects.filter(submission=submission).order_by("pk")
    assert [(b.accepted, b.rejected) for b in batches] == [(4, 1), (2, 0)]
    images = Image.objects.filter(collection=submission.collection).select_related("stored_file")
    assert images.count() == 6
    for image in images:
        data = archive_object(bucket, image.stored_file.sha256)
        assert hashlib.sha256(data).hexdigest() == image.stored_file.sha256
        assert pydicom.dcmread(io.BytesIO(data)).PatientIdentityRemoved == "YES"
    # staged originals were taken and deleted from the quarantine bucket
    assert not objects(bucket, "quarantine/incoming/")
    # the rejected file's original is kept in the quarantine bucket; curators download it
    rejected = QuarantinedFile.objects.get(submission=submission)
    assert objects(bucket, f"quarantine/{rejected.storage_name}") == {
        f"quarantine/{rejected.storage_name}": b"not a DICOM file at all"}
    got = curator_client.get(reverse("curation:quarantine_download", args=[rejected.pk]))
    assert b"".join(got.streaming_content) == b"not a DICOM file at all"
    assert not set(local_files()) - released["local_before"]  # nothing of intake or publication on a local disk


def test_zip_and_single_file_downloads_are_the_objects_bytes(released, client):
    bucket, version = released["bucket"], released["version"]
    response = client.get(f"/downloads/versions/{version.pk}.zip")
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert len(body) == int(response["Content-Length"])
    zf = zipfile.ZipFile(io.BytesIO(body))
    sums = [line.split("  ", 1) for line in zf.read(f"{zf.namelist()[0].split('/')[0]}/sha256sums.txt").decode().splitlines()]
    root = zf.namelist()[0].split("/")[0]
    dicom = [(sha, path) for sha, path in sums if path.endswith(".dcm")]
    assert len(dicom) == 6
    for sha, path in dicom:
        assert zf.read(f"{root}/{path}") == archive_object(bucket, sha)

    entry = version.entries.select_related("stored_file").order_by("-stored_file__size").first()
    whole = archive_object(bucket, entry.stored_file.sha256)
    url = f"/downloads/versions/{version.pk}/images/{entry.sop_instance_uid}.dcm"
    full = client.get(url)
    assert full.status_code == 200 and b"".join(full.streaming_content) == whole
    part = client.get(url, HTTP_RANGE="bytes=1000-5999")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 1000-5999/{len(whole)}"
    assert b"".join(part.streaming_content) == whole[1000:6000]
    tail = client.get(url, HTTP_RANGE="bytes=-300")
    assert b"".join(tail.streaming_content) == whole[-300:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(whole)}-").status_code == 416
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"another-etag"')
    assert stale.status_code == 200 and b"".join(stale.streaming_content) == whole


def test_nbia_retriever_and_dicomweb_serve_the_objects_bytes(released, client):
    bucket, version = released["bucket"], released["version"]
    entry = version.entries.select_related("stored_file", "series__study").order_by("-stored_file__size").first()
    series, whole = entry.series, archive_object(bucket, entry.stored_file.sha256)
    uid = series.series_instance_uid
    expected = {archive_object(bucket, sha) for sha in
                version.entries.filter(series=series).values_list("stored_file__sha256", flat=True)}

    got = client.get("/nbia-api/services/v4/getImage", {"SeriesInstanceUID": uid})
    assert got.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(b"".join(got.streaming_content)))
    assert {zf.read(n) for n in zf.namelist() if n.endswith(".dcm")} == expected

    params = {"SeriesInstanceUID": uid, "SOPInstanceUID": entry.sop_instance_uid}
    single = client.get("/nbia-api/services/v4/getSingleImage", params)
    assert b"".join(single.streaming_content) == whole
    ranged = client.get("/nbia-api/services/v4/getSingleImage", params, HTTP_RANGE="bytes=128-131")
    assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == whole[128:132] == b"DICM"

    tar = client.post("/nbia-download/servlet/DownloadServletV4", {"seriesUid": uid, "sopUids": "", "newFileNames": "Yes"})
    assert tar.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(b"".join(tar.streaming_content))) as tf:
        assert {tf.extractfile(m).read() for m in tf.getmembers()} == expected

    path = f"/dicomweb/studies/{series.study.study_instance_uid}/series/{uid}/instances/{entry.sop_instance_uid}"
    instance = client.get(path, HTTP_ACCEPT="application/dicom")
    assert instance.status_code == 200 and b"".join(instance.streaming_content) == whole
    frame = client.get(path + "/frames/1", HTTP_ACCEPT="application/octet-stream; transfer-syntax=*")
    assert frame.status_code == 200
    frame_bytes = frame.content if not frame.streaming else b"".join(frame.streaming_content)
    assert frame_bytes == pydicom.dcmread(io.BytesIO(whole)).PixelData


def test_fixity_check_detects_a_tampered_and_a_missing_object(released):
    call_command("fixity_check", stdout=io.StringIO(), verbosity=0)
    stored = released["version"].entries.select_related("stored_file").first().stored_file
    original = s3.read_stored(stored.storage_name)
    err = io.StringIO()
    try:
        s3.overwrite_stored(stored.storage_name, original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(CommandError, match="1 file"):
            call_command("fixity_check", stdout=io.StringIO(), stderr=err, verbosity=0)
        assert stored.sha256 in err.getvalue()
        s3.remove_stored(stored.storage_name)
        with pytest.raises(CommandError, match="1 file"):
            call_command("fixity_check", stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    finally:
        s3.overwrite_stored(stored.storage_name, original)
    call_command("fixity_check", stdout=io.StringIO(), verbosity=0)


def test_get_image_refuses_before_any_byte_when_an_object_is_missing(released, client):
    entry = released["version"].entries.select_related("stored_file", "series").first()
    original = s3.read_stored(entry.stored_file.storage_name)
    s3.remove_stored(entry.stored_file.storage_name)
    try:
        got = client.get("/nbia-api/services/v4/getImage", {"SeriesInstanceUID": entry.series.series_instance_uid})
        assert got.status_code == 500 and not got.streaming
        assert entry.sop_instance_uid in got.json()["error"]
    finally:
        s3.overwrite_stored(entry.stored_file.storage_name, original)


# Object-storage promises -----------------------------------------------------------------------


def test_a_large_file_streams_from_the_bucket_in_constant_memory(bucket, client):
    """A 24 MB object goes out through the zip path and a single-file download while the
    process never holds more than a few MB: no object is staged whole in memory."""
    import datetime as dt
    import os

    from collections_app.models import Collection, Series, Status, Study, Subject

    collection = Collection.objects.create(slug="s3-big", title="S3 big", short_name="S3-Big", subject_prefix="BIG",
                                           status=Status.IN_CURATION)
    subject = Subject.objects.create(collection=collection, patient_id="BIG-0001")
    study = Study.objects.create(collection=collection, subject=subject, study_instance_uid="1.2.826.0.1.9.1",
                                 study_date=dt.date(2020, 1, 1))
    series = Series.objects.create(collection=collection, subject=subject, study=study,
                                   series_instance_uid="1.2.826.0.1.9.1.1", modality="CT")
    data = os.urandom(24 * 1024 * 1024)
    stored = store_bytes(data)
    del data
    Image.objects.create(collection=collection, series=series, sop_instance_uid="1.2.826.0.1.9.1.1.1",
                         instance_number=1, stored_file=stored, file_size=stored.size)
    version = publish(collection, actor=None, notes="big")

    def peak_while(url, **headers):
        tracemalloc.start()
        try:
            response = client.get(url, **headers)
            digest, n = hashlib.sha256(), 0
            for chunk in response.streaming_content:
                n += len(chunk)
                if n <= stored.size:
                    digest.update(chunk)
            return tracemalloc.get_traced_memory()[1], n
        finally:
            tracemalloc.stop()

    peak, n = peak_while(f"/downloads/versions/{version.pk}.zip")
    assert n > stored.size and peak < 8 * 1024 * 1024, f"zip download peaked at {peak} bytes"
    peak, n = peak_while(f"/downloads/versions/{version.pk}/images/1.2.826.0.1.9.1.1.1.dcm")
    assert n == stored.size and peak < 8 * 1024 * 1024, f"file download peaked at {peak} bytes"
    with storages["archive"].open(stored.storage_name) as fh:
        assert verify(StoredFile.objects.get(pk=stored.pk)) and fh.size == stored.size


def test_single_files_redirect_to_a_presigned_url_when_configured(released, client, settings):
    import urllib.request

    settings.TCIA_S3_REDIRECT_DOWNLOADS = True
    version, bucket = released["version"], released["bucket"]
    entry = version.entries.select_related("stored_file").first()
    url = f"/downloads/versions/{version.pk}/images/{entry.sop_instance_uid}.dcm"
    moved = client.get(url)
    assert moved.status_code == 302 and "no-store" in moved["Cache-Control"]
    request = urllib.request.Request(moved["Location"], headers={"Range": "bytes=128-131"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the test's own S3 server
        assert answer.status == 206 and answer.read() == b"DICM"
        assert f"{entry.sop_instance_uid}.dcm" in answer.headers["Content-Disposition"]
    # no redirect (and no URL) for what the caller may not read
    assert client.get(f"/downloads/versions/{version.pk + 1000}/images/{entry.sop_instance_uid}.dcm").status_code == 404


def test_review_renderings_are_cached_in_the_derived_bucket(released, monkeypatch):
    from curation.dicom import render
    from curation.review import derived

    stored = released["version"].entries.select_related("stored_file").first().stored_file
    first = derived.thumbnail(stored)
    key = f"derived/{derived.thumb_name(stored.sha256)}"
    assert objects(released["bucket"], key) == {key: first}
    monkeypatch.setattr(render, "thumbnail_jpeg", lambda ds: pytest.fail("rendered again despite the cache"))
    assert derived.thumbnail(stored) == first



def test_zip_members_are_read_ahead_in_order_and_leave_no_threads(bucket):
    """Members' GETs are sent a few files ahead; every member still reads its own bytes, and
    neither a finished nor an abandoned download leaves read-ahead threads behind."""
    import gc
    import os
    import time

    storage = storages["archive"]
    blobs = [os.urandom(3000 + i) for i in range(10)]
    names = [store_bytes(b).storage_name for b in blobs]

    def threads():
        return [t for t in threading.enumerate() if t.name.startswith("s3-read-ahead")]

    opened = objectstore.openers(storage, [(n, len(b)) for n, b in zip(names, blobs)])
    got = []
    for open_member in opened:
        with open_member() as fh:
            got.append(fh.read())
    assert got == blobs
    del opened
    partial = objectstore.openers(storage, [(n, len(b)) for n, b in zip(names, blobs)])
    with partial[0]() as fh:
        assert fh.read() == blobs[0]
    del partial, fh
    for _ in range(50):
        gc.collect()
        if not threads():
            break
        time.sleep(0.1)
    assert not threads()
