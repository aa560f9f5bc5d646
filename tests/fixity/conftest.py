"""A small published collection (demo Chest CT, pydicom samples) for the fixity tests."""
import pytest
from django.test import override_settings

from collections_app.models import Status
from collections_app.services.publish import publish
from demo.services import DEMO_COLLECTIONS, load_demo_collection

ADMINS = [("Archive admin", "admin@example.org")]


@pytest.fixture
def published(db, curator):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=2, studies=1, series=2, images=3)
    collection.status = Status.IN_CURATION
    collection.save()
    return publish(collection, actor=curator, notes="First release")


@pytest.fixture
def admins():
    with override_settings(ADMINS=ADMINS, TCIA_FIXITY_BYTES_PER_SECOND=0):
        yield ADMINS
