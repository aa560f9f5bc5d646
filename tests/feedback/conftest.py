import pytest

from collections_app.models import Status
from collections_app.services.publish import publish
from demo.services import DEMO_COLLECTIONS, load_demo_collection


@pytest.fixture
def published(db, curator):
    collection = load_demo_collection(DEMO_COLLECTIONS[0], subjects=1, studies=1, series=2, images=2)
    collection.status = Status.IN_CURATION
    collection.save()
    return publish(collection, actor=curator, notes="First release")
