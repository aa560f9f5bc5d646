def test_load_demo_publishes_version_1_with_dois_once(db):
    from collections_app.models import CollectionVersion
    from collections_app.services.demo import load_demo
    from doi.models import DOI

    load_demo()
    load_demo()
    assert CollectionVersion.objects.count() == 2
    assert DOI.objects.filter(state="findable").count() == 4  # concept + version DOI per demo collection
