"""The landing page's key lookup (one prepared statement) reads exactly what the ORM reads."""
import pytest

from collections_app.models import Access
from doi import selectors
from doi.models import DOI
from publication.services import withdraw

pytestmark = pytest.mark.django_db

COLLECTION_FIELDS = selectors._COLLECTION_KEY_FIELDS


def assert_same(light: DOI, full: DOI):
    for name in selectors._KEY_FIELDS:
        assert getattr(light, name) == getattr(full, name), name
    for attr in ("collection", "version"):
        assert (getattr(light, attr) is None) == (getattr(full, attr) is None), attr
    pairs = []
    if full.collection is not None:
        pairs.append((light.collection, full.collection))
    if full.version is not None:
        assert light.version.pk == full.version.pk and light.version.withdrawn_at == full.version.withdrawn_at
        pairs.append((light.version.collection, full.version.collection))
    for a, b in pairs:
        for name in COLLECTION_FIELDS:
            assert getattr(a, name) == getattr(b, name), name


def test_every_doi_of_a_collection_reads_the_same_as_the_orm(published, chest, curator):
    chest.access = Access.LIMITED
    chest.data_use_agreement = "Do not re-identify."
    chest.save()
    withdraw(published, actor=curator, reason="A file was wrong")
    dois = list(DOI.objects.all())
    assert {d.kind for d in dois} >= {DOI.Kind.CONCEPT, DOI.Kind.VERSION} and len(dois) >= 2
    for doi in dois:
        light = selectors.resolve_for_key(doi.doi.upper() + " ")  # DOIs are case-insensitive
        full = DOI.objects.select_related("collection", "version__collection").get(pk=doi.pk)
        assert_same(light, full)
    assert any(d.version is not None and d.version.withdrawn_at for d in
               (selectors.resolve_for_key(x.doi) for x in dois))


def test_an_unknown_doi_is_none(published):
    assert selectors.resolve_for_key("10.0000/no-such-doi") is None
