"""Fixtures: a small demo collection built from pydicom samples, published as version 1."""
import pytest

from collections_app.models import Access, License, Status
from demo.services import DEMO_COLLECTIONS, load_demo_collection
from collections_app.services.publish import publish
from doi.models import CollectionCreator


@pytest.fixture
def chest(db):
    """Demo Chest CT: 2 subjects × 1 study × 2 series × 3 images, status draft (not yet published)."""
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=2, studies=1, series=2, images=3)
    collection.status = Status.IN_CURATION
    collection.save()
    CollectionCreator.objects.create(collection=collection, position=1, given_name="Jane", family_name="Doe", orcid="0000-0002-1825-0097", affiliation="Example University")
    CollectionCreator.objects.create(collection=collection, position=2, name_type="Organizational", family_name="Demo Imaging Consortium")
    return collection


@pytest.fixture
def published(chest, curator):
    version = publish(chest, actor=curator, notes="First release")
    return version


@pytest.fixture
def limited(db):
    spec = dict(DEMO_COLLECTIONS[1])
    collection = load_demo_collection(spec, subjects=1, studies=1, series=1, images=2)
    collection.access = Access.LIMITED
    collection.license = License.TCIA_RESTRICTED
    collection.data_use_agreement = "You will not try to re-identify anyone."
    collection.save()
    return collection
