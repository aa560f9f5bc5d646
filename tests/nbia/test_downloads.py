"""getImage / getImageWithMD5Hash / getSingleImage, refusal of limited data, and clear errors."""
import hashlib
import io
import zipfile

import pydicom
import pytest

from collections_app.models import Series
from collections_app.selectors import SeriesFile
from nbia.downloads import new_file_names
from tests.nbia.conftest import V4

pytestmark = pytest.mark.django_db


def uid_of(short_name):
    return Series.objects.filter(collection__short_name=short_name).order_by("series_instance_uid")[0].series_instance_uid


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def fake(instance, acquisition):
    return SeriesFile(f"1.{instance}", "", instance, acquisition, None)


def test_new_file_names_rules():
    assert new_file_names([fake(i, 1) for i in range(1, 43)])[:2] == ["1-01.dcm", "1-02.dcm"]
    assert new_file_names([fake(i, 1) for i in range(1, 43)])[-1] == "1-42.dcm"
    assert new_file_names([fake(i, 1) for i in range(1, 101)])[0] == "1-001.dcm"
    # two acquisitions: ordinal of the distinct AcquisitionNumber, counter within each
    files = [fake(1, 7), fake(2, 7), fake(3, 9), fake(4, 9), fake(5, 9)]
    assert new_file_names(files) == ["1-1.dcm", "1-2.dcm", "2-1.dcm", "2-2.dcm", "2-3.dcm"]


def test_get_image_zip(client, archive):
    uid = uid_of("API-Chest-CT")
    response = client.get(V4 + "getImage", {"SeriesInstanceUID": uid, "NewFileNames": "Yes", "IncludeMD5": "Yes"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="{uid}.zip"'
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    archive_zip = zipfile.ZipFile(io.BytesIO(data))
    assert archive_zip.testzip() is None
    names = archive_zip.namelist()
    assert names == ["LICENSE", "1-1.dcm", "1-2.dcm", "1-3.dcm", "md5hashes.csv"]
    assert "API-Chest-CT" in archive_zip.read("LICENSE").decode() and "CC BY 3.0" in archive_zip.read("LICENSE").decode()
    md5_lines = archive_zip.read("md5hashes.csv").decode().splitlines()
    assert md5_lines[0] == "Filename,MD5Hash"
    for line in md5_lines[1:]:
        name, digest = line.split(",")
        assert hashlib.md5(archive_zip.read(name)).hexdigest() == digest
    numbers = [pydicom.dcmread(io.BytesIO(archive_zip.read(n))).InstanceNumber for n in names[1:4]]
    assert numbers == [1, 2, 3]


def test_get_image_default_names_and_md5_variant(client, archive):
    uid = uid_of("API-Chest-CT")
    names = zipfile.ZipFile(io.BytesIO(body(client.get(V4 + "getImage", {"SeriesInstanceUID": uid})))).namelist()
    assert names == ["LICENSE", "00000001.dcm", "00000002.dcm", "00000003.dcm"]
    md5 = zipfile.ZipFile(io.BytesIO(body(client.get(V4 + "getImageWithMD5Hash", {"SeriesInstanceUID": uid}))))
    assert md5.namelist() == ["00000001.dcm", "00000002.dcm", "00000003.dcm", "md5hashes.csv"]


def test_get_image_errors(client, archive):
    missing = client.get(V4 + "getImage")
    assert missing.status_code == 400
    assert missing.json()["error"] == "A parameter, SeriesInstanceUID, is required for this API call."
    assert client.get(V4 + "getImage", {"SeriesInstanceUID": "1.2.3"}).status_code == 404
    assert client.get(V4 + "getImage", {"SeriesInstanceUID": uid_of("API-Chest-CT"), "Bogus": "1"}).status_code == 400


def test_limited_series_is_refused_to_the_public(client, archive):
    uid = uid_of("API-Brain-MR")
    response = client.get(V4 + "getImage", {"SeriesInstanceUID": uid})
    assert response.status_code == 400
    assert response.json()["error"].startswith("The user has not been granted the access")
    sop = Series.objects.get(series_instance_uid=uid).images.first().sop_instance_uid
    single = client.get(V4 + "getSingleImage", {"SeriesInstanceUID": uid, "SOPInstanceUID": sop})
    assert single.status_code == 400


def test_missing_file_gives_json_error_before_any_byte(client, archive):
    uid = uid_of("API-Chest-CT")
    image = Series.objects.get(series_instance_uid=uid).images.order_by("instance_number").last()
    from tests.s3 import remove_stored

    remove_stored(image.stored_file.storage_name)
    response = client.get(V4 + "getImage", {"SeriesInstanceUID": uid})
    assert response.status_code == 500 and not response.streaming
    error = response.json()["error"]
    assert "1 of 3 files" in error and image.sop_instance_uid in error


def test_single_image_and_ranges(client, archive):
    uid = uid_of("API-Chest-CT")
    image = Series.objects.get(series_instance_uid=uid).images.first()
    params = {"SeriesInstanceUID": uid, "SOPInstanceUID": image.sop_instance_uid}
    whole = client.get(V4 + "getSingleImage", params)
    data = body(whole)
    assert whole.status_code == 200 and whole["Content-Type"] == "application/dicom"
    assert whole["Content-Disposition"] == f"attachment; filename={image.sop_instance_uid}.dcm"
    assert whole["Accept-Ranges"] == "bytes"
    assert hashlib.sha256(data).hexdigest() == image.stored_file.sha256
    part = client.get(V4 + "getSingleImage", params, HTTP_RANGE="bytes=128-131")
    assert part.status_code == 206 and body(part) == data[128:132] == b"DICM"
    assert part["Content-Range"] == f"bytes 128-131/{len(data)}"
    tail = client.get(V4 + "getSingleImage", params, HTTP_RANGE="bytes=-10")
    assert body(tail) == data[-10:]
    bad = client.get(V4 + "getSingleImage", params, HTTP_RANGE=f"bytes={len(data) + 5}-")
    assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{len(data)}"
    assert client.get(V4 + "getSingleImage", {"SeriesInstanceUID": uid, "SOPInstanceUID": "9.9"}).status_code == 404
