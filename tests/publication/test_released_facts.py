"""Public facts come from released versions only (issue #15, point 2): publish, upload more,
and nothing public changes until the next version is published."""
import datetime as dt
import re

import pytest
from django.urls import reverse

from collections_app.models import Collection
from collections_app.services.indexing import index_dataset
from collections_app.services.publish import publish, withdraw
from collections_app.services.stats import refresh_collection_stats
from collections_app.services.storage import store_bytes
from curation.dicom.synth import SeriesSpec, build_series
from demo.services import DEMO_COLLECTIONS, load_demo_collection

pytestmark = pytest.mark.django_db


def upload_more(collection, *, series_key, modality_sample="CT_small.dcm", images=3, patient="DEMO-CT-0001"):
    for ds, data in build_series(SeriesSpec(patient_id=patient, patient_name=patient, study_key=f"{series_key}:study",
                                            series_key=series_key, modality_sample=modality_sample, images=images,
                                            study_date=dt.date(2011, 1, 1), series_number=9, body_part="HEAD")):
        index_dataset(collection=collection, ds=ds, stored_file=store_bytes(data))
    refresh_collection_stats(collection)  # as intake does after a batch


def public_view(client, collection):
    """What the public side says about the collection: catalogue row, collection page facts,
    REST and NBIA figures."""
    catalogue = client.get(reverse("catalogue")).content.decode()
    row = catalogue.split(f'href="/collections/{collection.slug}/"')[1].split("</tr>")[0]
    page = client.get(reverse("collection_detail", args=[collection.slug])).content.decode()
    facts = {k: re.search(rf'data-fact="{k}">([^<]*)<', page).group(1) for k in ("subjects", "series", "images")}
    modalities = re.search(r'data-fact="modalities">(.*?)</dd>', page, re.S).group(1)
    rest = next(c for c in client.get("/api/collections/").json()["results"] if c["slug"] == collection.slug)
    nbia = client.get("/nbia-api/services/v4/getSeries", {"Collection": collection.short_name}).json()
    nbia_mods = client.get("/nbia-api/services/v4/getModalityValues", {"Collection": collection.short_name}).json()
    return {
        "catalogue_row": re.sub(r"\s+", " ", row), "facts": facts, "modalities": re.findall(r">([A-Z]+)<", modalities),
        "rest": {k: rest[k] for k in ("subject_count", "series_count", "image_count", "total_bytes", "modalities")},
        "nbia_images": sorted((s["SeriesInstanceUID"], s["ImageCount"], s["FileSize"]) for s in nbia),
        "nbia_modalities": sorted(m["Modality"] for m in nbia_mods),
    }


def test_uploads_after_publication_change_nothing_public_until_the_next_version(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=2, studies=1, series=2, images=3)
    v1 = publish(collection, actor=None, notes="First")
    before = public_view(client, collection)
    assert before["facts"] == {"subjects": "2", "series": "4", "images": "12"}
    assert before["rest"]["image_count"] == 12 and before["nbia_modalities"] == ["CT"]

    # More files arrive in curation: a new MR series, and more images in a released series.
    upload_more(collection, series_key="later-mr", modality_sample="MR_small.dcm", images=2)
    collection.refresh_from_db()
    assert collection.image_count == 14  # the live index did change
    assert public_view(client, collection) == before

    v2 = publish(collection, actor=None, notes="Added an MR series")
    after = public_view(client, collection)
    assert after["facts"] == {"subjects": "2", "series": "5", "images": "14"}
    assert "MR" in after["modalities"] and "MR" in after["rest"]["modalities"] and after["nbia_modalities"] == ["CT", "MR"]
    assert after["rest"]["image_count"] == 14 == v2.image_count
    # Withdrawing version 2 gives version 1's figures back.
    withdraw(v2, actor=None, reason="Wrong series")
    again = public_view(client, collection)
    assert again["facts"] == before["facts"] and again["rest"]["image_count"] == v1.image_count
    assert "MR" not in again["rest"]["modalities"]


def test_collection_published_through_intake_has_modalities_and_sites_in_the_catalogue(client):
    collection = load_demo_collection(DEMO_COLLECTIONS[1], subjects=1, studies=1, series=1, images=2)
    collection.modalities.clear()
    collection.anatomic_sites.clear()  # as intake leaves it: nothing described
    publish(collection, actor=None, notes="First")
    collection.refresh_from_db()
    assert list(collection.modalities.values_list("code", flat=True)) == ["MR"]
    assert list(collection.anatomic_sites.values_list("name", flat=True)) == ["Brain"]
    titles = client.get(reverse("catalogue"), {"modality": "MR"}).content.decode()
    assert f'href="/collections/{collection.slug}/"' in titles


def test_seed_collections_show_the_descriptor_figures_as_such(client):
    from collections_app.services.catalogue import load_catalogue

    load_catalogue()
    page = client.get(reverse("collection_detail", args=["lidc-idri"])).content.decode()
    described = re.search(r'data-fact="described">(.*?)</p>', page, re.S).group(1)
    seed = Collection.objects.get(slug="lidc-idri")
    assert f"{seed.declared_subjects:,} subjects" in described and "images not hosted here" in described
    assert 'data-fact="images"' not in page
