"""The real tcia_utils client (PyPI) against a live test server, unmodified except for its base
URL, which can only be changed by replacing `nbia.setApiUrl` (reference §5.1)."""
import pydicom
import pytest

from tests.nbia.conftest import build_archive


@pytest.mark.django_db(transaction=True)
def test_tcia_utils_lists_downloads_and_reads_metadata(tcia, tmp_path):
    build_archive()

    collections = tcia.getCollections()
    assert [c["Collection"] for c in collections] == ["API-Brain-MR", "API-Chest-CT"]

    series = tcia.getSeries(collection="API-Chest-CT")
    assert len(series) == 4 and all(s["Collection"] == "API-Chest-CT" for s in series)
    assert tcia.getSeries(collection="No-Such-Collection") is None  # empty body → None

    target = tmp_path / "dl"
    tcia.downloadSeries(series[:2], path=str(target))
    for s in series[:2]:
        folder = target / s["SeriesInstanceUID"]
        files = sorted(p.name for p in folder.iterdir())
        assert files == ["1-1.dcm", "1-2.dcm", "1-3.dcm", "LICENSE"]
        for name in files[:-1]:
            ds = pydicom.dcmread(folder / name)
            assert ds.SeriesInstanceUID == s["SeriesInstanceUID"]
            assert ds.pixel_array.shape == (ds.Rows, ds.Columns)

    uids = [s["SeriesInstanceUID"] for s in series]
    df = tcia.getSeriesList(uids)
    assert sorted(df["SeriesInstanceUID"]) == sorted(uids)
    assert set(df["Collection"]) == {"API-Chest-CT"}
    assert list(df["ImageCount"]) == [3, 3, 3, 3]
