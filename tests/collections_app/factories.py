import factory

from collections_app.models import Collection, Status


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    title = factory.Sequence(lambda n: f"Test Collection {n}")
    slug = factory.Sequence(lambda n: f"test-collection-{n}")
    short_name = factory.Sequence(lambda n: f"Test-Collection-{n}")
    subject_prefix = factory.Sequence(lambda n: f"TC{n}")
    status = Status.PUBLISHED
    summary = "A test collection."
