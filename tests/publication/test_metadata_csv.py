"""metadata.csv as the NBIA Data Retriever writes it (issue #15, point 7), checked against the
columns and formats of shared/reference/nbia-api.md §7."""
import datetime as dt
import io
import re
import zipfile

import pytest
from django.utils import timezone

from collections_app.services import digest
from collections_app.services.publish import publish
from demo.services import DEMO_COLLECTIONS, load_demo_collection

pytestmark = pytest.mark.django_db
# nbia-api.md §7, in this order.
COLUMNS = ("Series UID,Collection,3rd Party Analysis,Data Description URI,Subject ID,Study UID,Study Description,"
           "Study Date,Series Description,Manufacturer,Modality,SOP Class Name,SOP Class UID,Number of Images,"
           "File Size,File Location,Download Timestamp").split(",")


def test_metadata_csv_columns_formats_and_the_download_time(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=2, images=3)
    version = publish(collection, actor=None, notes="First")
    before = timezone.localtime()
    body = b"".join(client.get(f"/downloads/versions/{version.pk}.zip").streaming_content)
    after = timezone.localtime()
    z = zipfile.ZipFile(io.BytesIO(body))
    raw = z.read(f"Demo-Chest-CT-v{version.number}/metadata.csv")
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    lines = raw.decode().split("\r\n")[:-1]
    assert lines[0].split(",") == COLUMNS
    version.refresh_from_db()
    for line in lines[1:]:
        row = dict(zip(COLUMNS, line.split(",")))
        assert len(line.split(",")) == len(COLUMNS) and '"' not in line  # unquoted
        for text in ("Collection", "Subject ID", "Study Description", "Series Description", "Manufacturer", "Modality"):
            assert re.fullmatch(r"[A-Za-z0-9 .\-]+", row[text]), (text, row[text])  # sanitised, or NA
        assert re.fullmatch(r"\d\d-\d\d-\d{4}", row["Study Date"])  # MM-dd-yyyy
        assert re.fullmatch(r"\d+\.\d\d (KB|MB|GB)|\d+ B", row["File Size"])  # base 1000
        assert row["File Location"].startswith("./Demo-Chest-CT/DEMO-CT-0001/")
        assert row["Data Description URI"] == version.doi_url and version.doi_url.startswith("https://doi.org/")
        assert row["3rd Party Analysis"] in ("YES", "NO")
        stamp = row["Download Timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", stamp)  # ISO local time, milliseconds
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f")
        # the download's time, not the release time
        assert before.replace(tzinfo=None, microsecond=0) - dt.timedelta(seconds=1) <= when <= after.replace(tzinfo=None)
    # The folders named by File Location are the ones in the zip.
    folders = {n.rsplit("/", 1)[0].split("/", 1)[1] for n in z.namelist() if n.endswith(".dcm")}
    assert {"./" + f for f in folders} == {dict(zip(COLUMNS, line.split(",")))["File Location"] for line in lines[1:]}


def test_digest_study_date_has_the_same_format_as_metadata_csv(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=1, images=2)
    version = publish(collection, actor=None, notes="First")
    csv_text = "".join(digest.series_csv(version))
    header, row = csv_text.split("\r\n")[:2]
    cols = dict(zip(header.split(","), row.split(",")))
    assert re.fullmatch(r"\d\d-\d\d-\d{4}", cols["Study Date"]) and re.fullmatch(r"\d\d-\d\d-\d{4}", cols["Date Released"])
