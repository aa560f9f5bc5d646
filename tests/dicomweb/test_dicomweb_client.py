"""The real dicomweb-client (PyPI) against a live test server: every kind of search and
retrieval, compared with the files of the version's own zip download, which the package's
serverless DICOMfileClient reads as the oracle."""
import io
import zipfile
from urllib.parse import urlparse

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMfileClient, DICOMwebClient
from PIL import Image as PILImage
from pydicom.data import get_testdata_file

from collections_app.models import Collection
from collections_app.services.indexing import index_dataset
from collections_app.services.publish import publish
from collections_app.services.storage import store_bytes
from tests.dicomweb.conftest import build_published

MULTIFRAME_SAMPLES = ["SC_rgb_rle_2frame.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm"]


def _zip_files(client, version, dest):
    """The version's zip, as the portal's download serves it, unpacked: the oracle's files."""
    response = client.get(f"/downloads/versions/{version.pk}.zip")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dcm")]
        zf.extractall(dest, members=names)
    return {pydicom.dcmread(dest / n, stop_before_pixels=True).SOPInstanceUID: dest / n for n in names}


def _values(items, keyword):
    return [i.get(keyword) for i in items]


def _as_datasets(results):
    return [pydicom.Dataset.from_json(r) for r in results]


class HostWithPort(requests.adapters.HTTPAdapter):
    """dicomweb-client 0.61.2 sets `Host: <host>` without the port on non-streamed requests
    (web.py, `headers['Host'] = self.host`); a server on a non-default port then builds its
    absolute URLs (BulkDataURI, RetrieveURL) for port 80. Put the port back, as a browser would."""

    def send(self, request, **kwargs):
        request.headers["Host"] = urlparse(request.url).netloc
        return super().send(request, **kwargs)


@pytest.fixture
def web(live_server):
    session = requests.Session()
    session.mount("http://", HostWithPort())
    return DICOMwebClient(url=live_server.url + "/dicomweb", session=session)


@pytest.mark.django_db(transaction=True)
def test_searches_match_the_files_of_the_version(web, client, tmp_path):
    v_public, _ = build_published()
    files = _zip_files(client, v_public, tmp_path / "zip")
    oracle = DICOMfileClient(url=f"file://{tmp_path / 'zip'}", in_memory=True, update_db=True)

    ours = _as_datasets(web.search_for_studies())
    theirs = _as_datasets(oracle.search_for_studies())
    on_disk = [pydicom.dcmread(p, stop_before_pixels=True) for p in files.values()]
    assert sorted(_values(ours, "StudyInstanceUID")) == sorted(_values(theirs, "StudyInstanceUID"))
    by_uid = {d.StudyInstanceUID: d for d in theirs}
    for study in ours:
        expected = by_uid[study.StudyInstanceUID]
        for keyword in ("NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"):
            assert study.get(keyword) is not None and study.get(keyword) == expected.get(keyword), keyword
        a_file = next(d for d in on_disk if d.StudyInstanceUID == study.StudyInstanceUID)
        for keyword in ("PatientID", "PatientName", "PatientSex", "StudyDate", "StudyTime", "StudyID",
                        "StudyDescription", "AccessionNumber", "ReferringPhysicianName"):
            assert (study.get(keyword) or None) == (a_file.get(keyword) or None), keyword
        modalities = study.ModalitiesInStudy
        assert set([modalities] if isinstance(modalities, str) else modalities) == {"CT"}

        our_series = _as_datasets(web.search_for_series(study.StudyInstanceUID))
        their_series = {d.SeriesInstanceUID: d for d in _as_datasets(oracle.search_for_series(study.StudyInstanceUID))}
        assert sorted(_values(our_series, "SeriesInstanceUID")) == sorted(their_series)
        for series in our_series:
            expected = their_series[series.SeriesInstanceUID]
            for keyword in ("Modality", "SeriesNumber", "NumberOfSeriesRelatedInstances"):
                assert series.get(keyword) is not None and series.get(keyword) == expected.get(keyword), keyword
            a_file = next(d for d in on_disk if d.SeriesInstanceUID == series.SeriesInstanceUID)
            for keyword in ("SeriesDescription", "BodyPartExamined", "Manufacturer", "SeriesDate"):
                assert (series.get(keyword) or None) == (a_file.get(keyword) or None), keyword

            our_instances = _as_datasets(web.search_for_instances(study.StudyInstanceUID, series.SeriesInstanceUID))
            their_instances = {d.SOPInstanceUID: d for d in _as_datasets(
                oracle.search_for_instances(study.StudyInstanceUID, series.SeriesInstanceUID))}
            assert sorted(_values(our_instances, "SOPInstanceUID")) == sorted(their_instances)
            for inst in our_instances:
                inst_file = pydicom.dcmread(files[inst.SOPInstanceUID], stop_before_pixels=True)
                for keyword in ("SOPClassUID", "InstanceNumber", "Rows", "Columns", "BitsAllocated"):
                    assert inst.get(keyword) is not None and inst.get(keyword) == inst_file.get(keyword), keyword

    # Top-level series and instance searches see the same objects, with their parents' attributes.
    all_series = _as_datasets(web.search_for_series())
    assert sorted(_values(all_series, "SeriesInstanceUID")) == sorted(
        _values(_as_datasets(oracle.search_for_series()), "SeriesInstanceUID"))
    assert all("StudyInstanceUID" in s and "PatientID" in s for s in all_series)
    all_instances = _as_datasets(web.search_for_instances())
    assert sorted(_values(all_instances, "SOPInstanceUID")) == sorted(files)


@pytest.mark.django_db(transaction=True)
def test_retrievals_give_back_the_stored_files(web, client, tmp_path, live_server):
    v_public, _ = build_published()
    files = _zip_files(client, v_public, tmp_path / "zip")
    study = web.search_for_studies()[0]
    study_uid = study["0020000D"]["Value"][0]
    series_uid = web.search_for_series(study_uid)[0]["0020000E"]["Value"][0]
    instances = [i["00080018"]["Value"][0] for i in web.search_for_instances(study_uid, series_uid)]

    # Study, series and instance retrieval: every dataset equals its file in the zip.
    for datasets in (web.retrieve_study(study_uid), web.retrieve_series(study_uid, series_uid)):
        assert datasets
        for ds in datasets:
            assert ds == pydicom.dcmread(files[ds.SOPInstanceUID])
    assert len(web.retrieve_study(study_uid)) == int(study["00201208"]["Value"][0])
    one = web.retrieve_instance(study_uid, series_uid, instances[0])
    on_disk = pydicom.dcmread(files[instances[0]])
    assert one == on_disk and one.PixelData == on_disk.PixelData

    # Metadata at every level, read back with bulk data fetched through its BulkDataURIs.
    meta = web.retrieve_series_metadata(study_uid, series_uid)
    assert sorted(m["00080018"]["Value"][0] for m in meta) == sorted(instances)
    assert len(web.retrieve_study_metadata(study_uid)) == int(study["00201208"]["Value"][0])
    inst_meta = web.retrieve_instance_metadata(study_uid, series_uid, instances[0])
    assert "BulkDataURI" in inst_meta["7FE00010"]
    rebuilt = pydicom.Dataset.from_json(inst_meta, bulk_data_uri_handler=lambda tag, vr, uri: bytes(web.retrieve_bulkdata(uri)[0]))
    for elem in on_disk:
        if elem.tag == 0xFFFCFFFC:  # Data Set Trailing Padding carries nothing; metadata leaves it out
            continue
        if elem.tag == 0x7FE00010:
            assert rebuilt.PixelData == elem.value
        else:
            assert rebuilt[elem.tag].value == elem.value, (elem.tag, elem.VR, rebuilt[elem.tag].VR)

    # Frames: as stored (transfer-syntax=*) and uncompressed (the default).
    for media_types in (None, (("application/octet-stream", "*"),)):
        kwargs = {} if media_types is None else {"media_types": media_types}
        frames = web.retrieve_instance_frames(study_uid, series_uid, instances[0], frame_numbers=[1], **kwargs)
        assert frames == [on_disk.PixelData]

    # Rendered and thumbnails: real JPEGs of the image's size (or the asked viewport).
    jpeg = web.retrieve_instance_rendered(study_uid, series_uid, instances[0])
    img = PILImage.open(io.BytesIO(jpeg))
    assert img.format == "JPEG" and img.size == (on_disk.Columns, on_disk.Rows)
    png = web.retrieve_instance_rendered(study_uid, series_uid, instances[0], media_types=("image/png",),
                                         params={"window": "40,400", "viewport": "64,64"})
    img = PILImage.open(io.BytesIO(png))
    assert img.format == "PNG" and max(img.size) == 64
    frame_jpeg = web.retrieve_instance_frames_rendered(study_uid, series_uid, instances[0], frame_numbers=[1])
    assert PILImage.open(io.BytesIO(frame_jpeg)).format == "JPEG"
    series_jpeg = web.retrieve_series_rendered(study_uid, series_uid)
    assert PILImage.open(io.BytesIO(series_jpeg)).format == "JPEG"
    thumb = requests.get(f"{live_server.url}/dicomweb/studies/{study_uid}/series/{series_uid}/thumbnail",
                         headers={"Accept": "image/jpeg"}, timeout=30)
    assert thumb.status_code == 200 and max(PILImage.open(io.BytesIO(thumb.content)).size) <= 128


@pytest.mark.django_db(transaction=True)
def test_compressed_multiframe_and_big_endian_frames(web, client, tmp_path):
    build_published()
    extra = Collection.objects.create(slug="dw-samples", title="DW Samples", short_name="DW-Samples",
                                      subject_prefix="DWS", status="published")
    originals = {}
    for name in MULTIFRAME_SAMPLES:
        path = get_testdata_file(name, download=False)
        data = open(path, "rb").read()
        ds = pydicom.dcmread(io.BytesIO(data))
        index_dataset(collection=extra, ds=ds, stored_file=store_bytes(data))
        originals[ds.SOPInstanceUID] = ds
    publish(extra, actor=None, notes="samples")
    for sop, ds in originals.items():
        hits = web.search_for_instances(search_filters={"SOPInstanceUID": sop})
        assert len(hits) == 1
        study_uid, series_uid = hits[0]["0020000D"]["Value"][0], hits[0]["0020000E"]["Value"][0]
        n = int(ds.get("NumberOfFrames", 1) or 1)
        stored = web.retrieve_instance_frames(study_uid, series_uid, sop, frame_numbers=list(range(1, n + 1)),
                                              media_types=(("application/octet-stream", "*"),))
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            expected = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=n))
            assert [f.rstrip(b"\0") for f in stored] == [e.rstrip(b"\0") for e in expected]
        # Uncompressed little-endian frames, decoded or byte-swapped on the server.
        raw = web.retrieve_instance_frames(study_uid, series_uid, sop, frame_numbers=[n])
        arr = ds.pixel_array if n == 1 else ds.pixel_array[n - 1]
        if ds.file_meta.TransferSyntaxUID.is_compressed and ds.PhotometricInterpretation != "MONOCHROME2":
            assert len(raw[0]) == arr.size * arr.dtype.itemsize
        else:
            assert raw[0] == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
