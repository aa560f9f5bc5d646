"""Supporting files in an S3-compatible bucket: stored there by content, served alone (or by a
presigned redirect when configured) and inside the version zip from the bucket."""
import io
import zipfile

import pytest

from collections_app.services.publish import publish
from supporting import services
from tests.storage.test_object_storage import archive_object, bucket  # noqa: F401 - the module's bucket fixture
from tests.supporting.conftest import csv_bytes

pytestmark = pytest.mark.django_db


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_supporting_files_from_a_bucket(bucket, chest, curator, client, settings):  # noqa: F811
    subject = chest.subjects_index.order_by("patient_id").first().patient_id
    sf = services.attach(chest, name="clinical.csv", data=csv_bytes([["PatientID", "Stage"], [subject, "II"]]))
    data = archive_object(bucket, sf.stored_file.sha256)
    assert data.startswith(b"PatientID,Stage")
    version = publish(chest, actor=curator, notes="v1")
    assert body(client.get(f"/downloads/versions/{version.pk}/supporting/clinical.csv")) == data
    z = zipfile.ZipFile(io.BytesIO(body(client.get(f"/downloads/versions/{version.pk}.zip"))))
    assert [z.read(n) for n in z.namelist() if n.endswith("/supporting/clinical.csv")] == [data]
    settings.TCIA_S3_REDIRECT_DOWNLOADS = True
    moved = client.get(f"/downloads/versions/{version.pk}/supporting/clinical.csv")
    assert moved.status_code == 302 and "clinical.csv" in moved["Location"]
