import pytest
from django.urls import reverse

from collections_app.models import Collection, Status
from collections_app.services.catalogue import load_catalogue, load_seed

from .factories import CollectionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    load_catalogue()


def titles(response):
    return [c.title for c in response.context["collections"]]


def test_seed_catalogue_has_the_fifteen_collections_of_table_1(client, seeded):
    response = client.get(reverse("catalogue"))
    assert response.status_code == 200
    seed_titles = {c["title"] for c in load_seed()["collections"]}
    assert len(seed_titles) == 15
    assert set(titles(response)) == seed_titles
    assert response.context["total"] == 15
    # facts from Table 1
    cetuximab = Collection.objects.get(slug="head-neck-cetuximab")
    assert cetuximab.declared_subjects == 111
    assert cetuximab.declared_size_bytes == 48_800_000_000
    assert set(cetuximab.modalities.values_list("code", flat=True)) == {"PT", "CT", "RTSTRUCT", "RTDOSE", "RTPLAN"}
    assert set(Collection.objects.filter(license="CC-BY-NC-3.0").values_list("title", flat=True)) == {
        "Lung Phantom", "Phantom FDA"}


def test_loading_the_seed_twice_changes_nothing(seeded):
    assert load_catalogue() == (0, 15)
    assert Collection.objects.count() == 15


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"modality": "MR"}, {"RIDER Phantom MRI", "RIDER Neuro MRI", "RIDER Breast MRI", "ISPY1"}),
        ({"site": "Breast"}, {"RIDER Breast MRI", "ISPY1"}),
        ({"cancer_type": "Glioblastoma"}, {"RIDER Neuro MRI"}),
        ({"license": "CC-BY-NC-3.0"}, {"Lung Phantom", "Phantom FDA"}),
        ({"modality": "PT", "site": "Prostate"}, {"NaF PROSTATE"}),
        ({"q": "cetuximab"}, {"Head-Neck Cetuximab"}),
        ({"q": "coffee break"}, {"RIDER Lung CT", "RIDER Breast MRI"}),
        ({"q": "polyp"}, {"CT Colonography"}),
        ({"q": "no-such-word-anywhere"}, set()),
    ],
)
def test_filters_and_search(client, seeded, params, expected):
    response = client.get(reverse("catalogue"), params)
    assert set(titles(response)) == expected
    assert f'data-testid="result-count">{len(expected)}<' in response.content.decode()


def test_access_filter(client, seeded):
    Collection.objects.filter(slug="ispy1").update(access="limited")
    assert titles(client.get(reverse("catalogue"), {"access": "limited"})) == ["ISPY1"]


def test_sort_by_size_and_subjects(client, seeded):
    by_size = titles(client.get(reverse("catalogue"), {"sort": "-size"}))
    assert by_size[0] == "CT Colonography"  # 462.6 GB
    assert by_size[-1] == "QIN PET Phantom"  # 0.25 GB
    by_subjects = titles(client.get(reverse("catalogue"), {"sort": "-subjects"}))
    assert by_subjects[:3] == ["LIDC-IDRI", "CT Colonography", "RIDER Lung PET-CT"]
    by_name = titles(client.get(reverse("catalogue"), {"sort": "-name"}))
    assert by_name == sorted(by_name, key=str.lower, reverse=True)


def test_drafts_are_hidden_from_the_public_catalogue_but_shown_to_curators(client, curator, seeded):
    CollectionFactory(title="Secret Draft", status=Status.DRAFT)
    assert "Secret Draft" not in titles(client.get(reverse("catalogue")))
    client.force_login(curator)
    assert "Secret Draft" in titles(client.get(reverse("catalogue")))
