""""View images" links on the collection page, the series list and the DOI landing page open
the OHIF viewer on the right study, series and version; none for data the user may not read.
The viewer page carries its CSP and, for a pinned version, that version's DICOMweb root."""
import re
from urllib.parse import parse_qs, urlparse

import pytest

from collections_app.models import VersionSeries
from dicomweb import viewer
from doi.models import DOI


def viewer_links(html):
    return [m.replace("&amp;", "&") for m in re.findall(r'href="(/viewer/viewer\?[^"]+)"[^>]*data-viewer', html)]


@pytest.mark.django_db
def test_view_images_links(client, published, fake_viewer):
    v_public, v_limited = published
    snaps = list(VersionSeries.objects.filter(version=v_public))

    page = client.get(f"/collections/{v_public.collection.slug}/series/").content.decode()
    links = [parse_qs(urlparse(u).query) for u in viewer_links(page)]
    assert sorted((q["StudyInstanceUIDs"][0], q["SeriesInstanceUIDs"][0]) for q in links) == sorted(
        (s.study_instance_uid, s.series_instance_uid) for s in snaps)

    page = client.get(f"/collections/{v_public.collection.slug}/").content.decode()
    [link] = viewer_links(page)
    assert parse_qs(urlparse(link).query)["StudyInstanceUIDs"][0] == min(s.study_instance_uid for s in snaps)

    landing = DOI.objects.filter(version=v_public).first()
    page = client.get(landing.get_absolute_url()).content.decode()
    [link] = viewer_links(page)
    assert parse_qs(urlparse(link).query)["version"] == [str(v_public.pk)]

    # A limited collection the visitor may not download: no link.
    assert viewer_links(client.get(f"/collections/{v_limited.collection.slug}/series/").content.decode()) == []
    assert viewer_links(client.get(f"/collections/{v_limited.collection.slug}/").content.decode()) == []


@pytest.mark.django_db
def test_viewer_page_csp_and_version_config(client, fake_viewer):
    page = client.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")
    assert page.status_code == 200
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in policy and "'unsafe-eval'" not in policy and "frame-ancestors 'self'" in policy
    assert 'src="/viewer/app-config.js"' in page.content.decode()
    pinned = client.get("/viewer/viewer?StudyInstanceUIDs=1.2.3&version=7").content.decode()
    assert 'src="/viewer/app-config-7.js"' in pinned
    config = client.get("/viewer/app-config-7.js").content.decode()
    assert "'/dicomweb/versions/7'" in config and "'/dicomweb'" not in config
    # The inline script the page runs is exactly the one the policy allows by hash.
    assert all(h in policy for h in viewer.inline_script_hashes(page.content.decode()))
