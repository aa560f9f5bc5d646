"""The metadata endpoints against reference §2–§3 (column lists copied from the spec text)."""
import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collections_app.models import Series
from tests.nbia.conftest import V1, V2, V4

pytestmark = pytest.mark.django_db

# Column lists transcribed from reference/nbia-api.md §3.1 / §3.2.
GET_PATIENT_V4 = ["PatientId", "PatientName", "PatientSex", "EthnicGroup", "Collection", "Phantom", "SpeciesCode",
                  "SpeciesDescription", "Authorized"]
GET_PATIENT_STUDY_V4 = ["StudyInstanceUID", "StudyDate", "StudyDescription", "AdmittingDiagnosesDescription",
                        "StudyID", "PatientAge", "PatientID", "PatientName", "PatientSex", "EthnicGroup",
                        "Collection", "SeriesCount", "LongitudinalTemporalEventType",
                        "LongitudinalTemporalOffsetFromEvent", "Authorized"]
GET_SERIES_V4 = ("SeriesInstanceUID, StudyInstanceUID, Modality, ProtocolName, SeriesDate, SeriesDescription, "
                 "BodyPartExamined, SeriesNumber, AnnotationsFlag, Collection, Site, PatientID, PatientSex, "
                 "PatientAge, AdmittingDiagnosisDescription, Manufacturer, ManufacturerModelName, SoftwareVersions, "
                 "ImageCount, MaxSubmissionTimestamp, LicenseName, LicenseURI, DataDescriptionURI, FileSize, "
                 "ReleasedStatus, DateReleased, StudyDesc, StudyDate, ThirdPartyAnalysis, Authorized").split(", ")
GET_SERIES_V1 = ("SeriesInstanceUID, StudyInstanceUID, Modality, ProtocolName, SeriesDate, SeriesDescription, "
                 "BodyPartExamined, SeriesNumber, AnnotationsFlag, Collection, PatientID, Manufacturer, "
                 "ManufacturerModelName, SoftwareVersions, ImageCount, TimeStamp, LicenseName, LicenseURI, "
                 "CollectionURI, FileSize, DateReleased, StudyDesc, StudyDate, ThirdPartyAnalysis").split(", ")
SERIES_METADATA_V4 = (
    "PatientID, PatientName, PatientSex, EthnicGroup, Phantom, SpeciesCode, SpeciesDescription, StudyInstanceUID, "
    "StudyDate, StudyDesc, AdmittingDiagnosisDescription, StudyID, PatientAge, LongitudinalTemporalEventType, "
    "LongitudinalTemporalOffsetFromEvent, SeriesInstanceUID, Collection, Site, Modality, ProtocolName, SeriesDate, "
    "SeriesDescription, BodyPartExamined, SeriesNumber, AnnotationsFlag, Manufacturer, ManufacturerModelName, "
    "PixelSpacing(mm)-Row, SliceThickness(mm), SoftwareVersions, ImageCount, MaxSubmissionTimestamp, LicenseName, "
    "LicenseURI, DataDescriptionURI, FileSize, ReleasedStatus, DateReleased, ThirdPartyAnalysis, Authorized"
).split(", ")
SERIES_METADATA_V1 = (
    "Series UID, Collection, 3rd Party Analysis, Data Description URI, Subject ID, Study UID, Study Description, "
    "Study Date, Series Description, Manufacturer, Modality, SOP Class UID, Number of Images, File Size, "
    "File Location, Series Number, License Name, License URL, Annotation Size, Date Released, Series Date, "
    "Protocol Name, Body Part Examined, Annotations Flag, Manufacturer Model Name, Software Versions, TimeStamp"
).split(", ")


def csv_rows(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def public_uid():
    return Series.objects.filter(collection__short_name="API-Chest-CT").order_by("series_instance_uid")[0].series_instance_uid


def assert_json_keys_in_order(objects, columns):
    for obj in objects:
        keys = list(obj)
        assert keys == [c for c in columns if c in obj], keys
        assert set(keys) <= set(columns)


@pytest.mark.parametrize("endpoint, column", [
    ("getCollectionValues", "Collection"), ("getModalityValues", "Modality"),
    ("getBodyPartValues", "BodyPartExamined"), ("getManufacturerValues", "Manufacturer"),
])
def test_single_column_endpoints(client, archive, endpoint, column):
    data = client.get(V4 + endpoint).json()
    assert data and all(list(row) == [column] for row in data)
    values = [row[column] for row in data]
    assert len(values) == len(set(values))
    # Single-column CSV is unquoted.
    lines = client.get(V4 + endpoint, {"format": "csv"}).content.decode().splitlines()
    assert lines[0] == column and not any(line.startswith('"') for line in lines)


def test_collection_values_lists_released_collections_only(client, archive):
    names = [row["Collection"] for row in client.get(V4 + "getCollectionValues").json()]
    assert names == ["API-Brain-MR", "API-Chest-CT"]  # the draft collection is absent


def test_text_filters_are_case_insensitive(client, archive):
    assert client.get(V4 + "getModalityValues", {"Collection": "api-chest-ct"}).json() == [{"Modality": "CT"}]
    assert client.get(V4 + "getBodyPartValues", {"Modality": "mr"}).json() == [{"BodyPartExamined": "BRAIN"}]


def test_uids_match_exactly(client, archive):
    uid = public_uid()
    assert len(client.get(V4 + "getSeries", {"SeriesInstanceUID": uid}).json()) == 1
    response = client.get(V4 + "getSeries", {"SeriesInstanceUID": uid[:-1]})
    assert response.status_code == 200 and response.content == b""


def test_empty_result_is_an_empty_body_in_every_format(client, archive):
    for fmt in ("json", "csv", "xml", "html"):
        response = client.get(V4 + "getSeries", {"Collection": "No-Such", "format": fmt})
        assert response.status_code == 200 and response.content == b""


def test_unknown_parameter_is_400_naming_allowed_ones(client, archive):
    response = client.get(V4 + "getSeries", {"collection": "API-Chest-CT"})  # names are case-sensitive
    assert response.status_code == 400
    text = response.content.decode()
    assert "Invalid query parameter: 'collection'" in text
    assert "Allowed parameters are: [" in text and "Collection" in text and "SeriesInstanceUID" in text


@pytest.mark.parametrize("endpoint", ["getCollectionValues", "getSeries", "getPatient"])
def test_unknown_format_is_a_400_that_names_the_choices(client, archive, endpoint):
    # NBIA answers 500 "Server was not able to process your request"; a typo is the client's error.
    response = client.get(V4 + endpoint, {"format": "xyz"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "format" in text and "json" in text and "csv" in text


def test_format_is_case_insensitive(client, archive):
    assert client.get(V4 + "getCollectionValues", {"format": "CSV"}).content.decode().startswith("Collection\n")


def test_get_series_v4_columns_dates_and_escaping(client, archive):
    response = client.get(V4 + "getSeries", {"Collection": "API-Chest-CT"})
    assert response["Content-Type"].startswith("application/json")
    body = response.content.decode()
    assert "https:\\/\\/creativecommons.org" in body  # '/' escaped as '\/'
    data = json.loads(body)
    assert len(data) == 4
    assert_json_keys_in_order(data, GET_SERIES_V4)
    # Every date MM-DD-YYYY (reference §2), each checked against the stored date of its series.
    stored = {s.series_instance_uid: s for s in Series.objects.select_related("study")
              .filter(series_instance_uid__in=[row["SeriesInstanceUID"] for row in data])}
    assert len(stored) == 4
    mmddyyyy = "%m-%d-%Y"
    for row in data:
        series = stored[row["SeriesInstanceUID"]]
        assert series.study.study_date and series.series_date  # the fixture dates every study and series
        assert row["StudyDate"] == series.study.study_date.strftime(mmddyyyy)
        assert row["SeriesDate"] == series.series_date.strftime(mmddyyyy)
        assert row["DateReleased"] == series.date_released.strftime(mmddyyyy) == "03-05-2024"
    # Some date of the fixture has a day past 12, so a day-first format cannot pass unnoticed.
    assert any(s.study.study_date.day > 12 or s.series_date.day > 12 for s in stored.values())
    assert isinstance(row["ImageCount"], int) and isinstance(row["FileSize"], int) and row["Authorized"] == 1
    assert isinstance(row["SeriesNumber"], str)
    assert "ProtocolName" not in row  # a null value drops its key
    csv_data = csv_rows(client.get(V4 + "getSeries", {"Collection": "API-Chest-CT", "format": "csv"}))
    assert csv_data[0] == GET_SERIES_V4 and len(csv_data) == 5
    raw = client.get(V4 + "getSeries", {"Collection": "API-Chest-CT", "format": "csv"}).content.decode()
    assert raw.splitlines()[1].startswith('"') and "\r" not in raw


def test_xml_and_html_formats(client, archive):
    xml = client.get(V4 + "getSeries", {"Collection": "API-Chest-CT", "format": "xml"}).content.decode()
    assert xml.startswith("<Results><Row><Col type='java.lang.String'>") and xml.endswith("</Row></Results>")
    html = client.get(V4 + "getSeries", {"Collection": "API-Chest-CT", "format": "html"}).content.decode()
    assert html.startswith("<TABLE BORDER=1><TR><TH>SeriesInstanceUID</TH>")


def test_get_patient_and_by_modality(client, archive):
    data = client.get(V4 + "getPatient", {"Collection": "API-Chest-CT"}).json()
    assert [r["PatientId"] for r in data] == ["APICT-0001", "APICT-0002"]
    assert_json_keys_in_order(data, GET_PATIENT_V4)
    assert csv_rows(client.get(V4 + "getPatient", {"format": "csv"}))[0] == GET_PATIENT_V4
    rows = client.get(V4 + "getPatientByCollectionAndModality", {"Collection": "API-Chest-CT", "Modality": "CT"}).json()
    assert rows == [{"PatientId": "APICT-0001", "Authorized": 1}, {"PatientId": "APICT-0002", "Authorized": 1}]
    missing = client.get(V4 + "getPatientByCollectionAndModality", {"Collection": "API-Chest-CT"})
    assert missing.status_code == 400 and b"Modality" in missing.content


def test_new_patients_and_studies_since(client, archive):
    assert len(client.get(V4 + "NewPatientsInCollection", {"Collection": "API-Chest-CT", "fromDate": "01-01-2024"}).json()) == 2
    assert client.get(V4 + "NewPatientsInCollection", {"Collection": "API-Chest-CT", "fromDate": "01-01-2025"}).content == b""
    assert client.get(V4 + "NewPatientsInCollection", {"fromDate": "2024-01-01"}).status_code == 400
    studies = client.get(V4 + "NewStudiesInPatientCollection", {"Collection": "API-Chest-CT", "fromDate": "03-01-2024"}).json()
    assert len(studies) == 2
    # v1 takes Date=yyyy/MM/dd
    assert len(client.get(V1 + "NewPatientsInCollection", {"Collection": "API-Chest-CT", "Date": "2024/01/01"}).json()) == 2


def test_get_patient_study(client, archive):
    data = client.get(V4 + "getPatientStudy", {"Collection": "API-Chest-CT"}).json()
    assert len(data) == 2 and all(r["SeriesCount"] == 2 for r in data)
    assert_json_keys_in_order(data, GET_PATIENT_STUDY_V4)
    assert csv_rows(client.get(V4 + "getPatientStudy", {"format": "csv"}))[0] == GET_PATIENT_STUDY_V4


def test_series_size_and_sop_uids(client, archive):
    uid = public_uid()
    series = Series.objects.get(series_instance_uid=uid)
    assert client.get(V4 + "getSeriesSize", {"SeriesInstanceUID": uid}).json() == [
        {"TotalSizeInBytes": series.total_bytes, "ObjectCount": 3}
    ]
    sops = client.get(V4 + "getSOPInstanceUIDs", {"SeriesInstanceUID": uid}).json()
    assert sorted(r["SOPInstanceUID"] for r in sops) == sorted(series.images.values_list("sop_instance_uid", flat=True))
    response = client.get(V4 + "getSeriesSize")
    assert response.status_code == 400
    assert response.content.decode() == "A parameter, SeriesInstanceUID, is required for this API call."


def test_updated_series(client, archive):
    # The public sees the public-access collection's series; the limited one's need an agreement.
    released = Series.objects.filter(date_released__isnull=False, collection__access="public",
                                     collection__status="published").count()
    assert released == 4
    assert len(client.get(V4 + "getUpdatedSeries", {"fromDate": "01-01-2024"}).json()) == released
    assert client.get(V4 + "getUpdatedSeries", {"fromDate": "01-01-2030"}).content == b""
    v1 = client.get(V1 + "getUpdatedSeries", {"fromDate": "01/01/2024", "format": "csv"})
    assert csv_rows(v1)[0] == GET_SERIES_V1[:15] + ["DateReleased"]


def test_series_metadata_post_defaults_to_csv(client, archive):
    uids = list(Series.objects.filter(collection__short_name="API-Chest-CT").values_list("series_instance_uid", flat=True))
    response = client.post(V4 + "getSeriesMetadata", {"list": ",".join(uids[:2])})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="SeriesMetaData.csv"'
    rows = csv_rows(response)
    assert rows[0] == SERIES_METADATA_V4 and len(rows) == 3
    repeated = client.post(V4 + "getSeriesMetadata", {"list": uids[:3]})  # repeating `list` works too
    assert len(csv_rows(repeated)) == 4
    as_json = client.post(V4 + "getSeriesMetadata", {"list": uids[0], "format": "json"}).json()
    assert_json_keys_in_order(as_json, SERIES_METADATA_V4)
    assert client.post(V4 + "getSeriesMetadata", {}).status_code == 400


def test_v1_aliases_use_v1_names(client, archive):
    data = client.get(V1 + "getSeries", {"Collection": "API-Chest-CT"}).json()
    assert_json_keys_in_order(data, GET_SERIES_V1)
    assert "TimeStamp" in data[0] and "MaxSubmissionTimestamp" not in data[0] and "Authorized" not in data[0]
    assert data[0]["DateReleased"] == "2024-03-05 12:00:00.0"
    uid = public_uid()
    meta = client.get(V1 + "getSeriesMetaData", {"SeriesInstanceUID": uid, "format": "csv"})
    assert csv_rows(meta)[0] == SERIES_METADATA_V1
    row = dict(zip(SERIES_METADATA_V1, csv_rows(meta)[1]))
    assert row["Study Date"].count("-") == 2 and len(row["Study Date"]) == 10
    assert client.get(V1 + "getSeriesMetaData", {"SeriesInstanceUID": "1.2.3"}).status_code == 204
    # v1 does not reject unknown parameters; v2 serves the v4 endpoint set with v1/v2 getSeries columns
    assert client.get(V1 + "getCollectionValues", {"api_key": "x"}).status_code == 200
    v2 = client.get(V2 + "getSeries", {"Collection": "API-Chest-CT", "format": "csv"})
    assert csv_rows(v2)[0] == GET_SERIES_V1


def test_counts_endpoints(client, archive):
    cols = {"getCollectionValuesAndCounts": "Collection", "getModalityValuesAndCounts": "Modality",
            "getBodyPartValuesAndCounts": "BodyPart", "getManufacturerValuesAndCounts": "Manufacturer",
            "getSpeciesValuesAndCounts": "Species"}
    for endpoint, first in cols.items():
        data = client.get(V4 + endpoint).json()
        assert data and all(list(r) == [first, "Count", "Authorized"] for r in data), endpoint
    counts = {r["Collection"]: r for r in client.get(V4 + "getCollectionValuesAndCounts").json()}
    assert counts["API-Chest-CT"] == {"Collection": "API-Chest-CT", "Count": 2, "Authorized": 1}
    assert counts["API-Brain-MR"]["Authorized"] == 0


def test_collection_descriptions(client, archive):
    data = client.get(V4 + "getCollectionDescriptions", {"collectionName": "api-chest-ct"}).json()
    assert len(data) == 1 and set(data[0]) == {"description", "id", "collectionName", "descriptionURI"}
    assert data[0]["collectionName"] == "API-Chest-CT" and "Public test collection" in data[0]["description"]


def test_dicom_tags(client, archive):
    data = client.get(V4 + "getDicomTags", {"SeriesUID": public_uid()}).json()
    by_element = {r["element"]: r for r in data}
    assert by_element["(0008,0060)"]["data"] == "CT" and by_element["(0008,0060)"]["name"] == "Modality"
    assert "(7FE0,0010)" not in by_element  # read with stop_before_pixels


def test_manifests(client, archive):
    uids = sorted(Series.objects.filter(collection__short_name="API-Chest-CT").values_list("series_instance_uid", flat=True))
    response = client.post(V4 + "getManifestForCollection", {"collection": "api-chest-ct", "includeAnnotation": "true"})
    assert response["Content-Type"] == "application/x-nbia-manifest-file"
    lines = response.content.decode().split("\n")
    assert lines[0].startswith("downloadServerUrl=") and lines[0].endswith("/nbia-download/servlet/DownloadServlet")
    assert lines[1] == "includeAnnotation=true" and lines[2] == "noOfrRetry=4"
    assert lines[3].startswith("databasketId=manifest-") and lines[3].endswith(".tcia")
    assert lines[4] == "manifestVersion=3.0" and lines[5] == "ListOfSeriesToDownload="
    assert lines[6:-1] == uids and lines[-1] == ""
    text = client.post(V4 + "getManifestText", {"list": ",".join(uids[:2] + ["9.9.9"]), "includeAnnotation": "false"})
    assert text.content.decode().split("\n")[6:-1] == uids[:2]


def test_limited_rows_are_withheld_from_the_public(client, archive):
    _, limited = archive
    series = Series.objects.filter(collection=limited).first()
    uid = series.series_instance_uid
    # Nothing that names a subject, study or series of the limited collection...
    for endpoint, params in [
        ("getSeries", {"Collection": limited.short_name}), ("getPatient", {"Collection": limited.short_name}),
        ("getPatientStudy", {"Collection": limited.short_name}), ("getSeriesSize", {"SeriesInstanceUID": uid}),
        ("getSOPInstanceUIDs", {"SeriesInstanceUID": uid}), ("getDicomTags", {"SeriesUID": uid}),
        ("getSeriesMetadata", {"list": uid, "format": "json"}),
        ("getPatientByCollectionAndModality", {"Collection": limited.short_name, "Modality": series.modality}),
    ]:
        response = client.get(V4 + endpoint, params)
        assert response.status_code in (200, 204) and uid not in response.content.decode(), endpoint
        assert series.subject.patient_id not in response.content.decode(), endpoint
    manifest = client.get(V4 + "getManifestForCollection", {"collection": limited.short_name}).content.decode()
    assert uid not in manifest
    # ...while the catalogue still lists it, marked as not authorized.
    counts = {r["Collection"]: r for r in client.get(V4 + "getCollectionValuesAndCounts").json()}
    assert counts[limited.short_name]["Authorized"] == 0


def test_query_count_does_not_grow_with_rows(client, archive, django_assert_max_num_queries):
    from nbia.context import clear_doi_cache

    client.get(V4 + "getSeries")  # warm the DOI cache
    with CaptureQueriesContext(connection) as few:
        client.get(V4 + "getSeries", {"Collection": "API-Brain-MR"})
    with CaptureQueriesContext(connection) as many:
        client.get(V4 + "getSeries")
    assert len(many) == len(few) <= 4
    for endpoint in ("getPatient", "getPatientStudy", "getCollectionValuesAndCounts"):
        with django_assert_max_num_queries(4):
            client.get(V4 + endpoint)
    clear_doi_cache()


def test_postgres_getseries_json_matches_the_python_rows(client, archive):
    """On PostgreSQL getSeries JSON is built by the database; it must say exactly what the
    Python formatter says (skipped on SQLite, where the Python path is the only one)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL fast path")
    from nbia.context import Ctx
    from nbia.formats import to_json
    from nbia.queries import get_series, get_series_json_pg
    from django.contrib.auth.models import AnonymousUser
    from django.http import QueryDict

    for query in ("", "Collection=api-chest-ct", "Collection=API-Brain-MR", "Collection=none"):
        params = QueryDict(query)
        ctx = Ctx.build(AnonymousUser(), "v4")
        columns, rows = get_series(ctx, params)
        pg = get_series_json_pg(Ctx.build(AnonymousUser(), "v4"), params)
        assert json.loads(pg or "[]") == json.loads(to_json(columns, rows) if rows else "[]")
    response = client.get(V4 + "getSeries", {"Collection": "API-Chest-CT"})
    assert "https:\\/\\/creativecommons.org" in response.content.decode()
