def test_load_demo_publishes_version_1_with_dois_once(db):
    from collections_app.models import CollectionVersion
    from demo.services import load_demo
    from doi.models import DOI

    load_demo()
    load_demo()
    assert CollectionVersion.objects.count() == 2
    assert DOI.objects.filter(state="findable").count() == 4  # concept + version DOI per demo collection


def test_fixity_check_finds_a_damaged_file(published):
    import io

    import pytest
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("fixity_check", stdout=out, verbosity=0)
    assert "All files verified" in out.getvalue()
    stored = published.entries.select_related("stored_file").first().stored_file
    from tests.s3 import overwrite_stored, read_stored

    original = read_stored(stored.storage_name)
    try:  # the storage (folder or bucket) is shared by the whole test session: put the bytes back
        overwrite_stored(stored.storage_name, original + b"bit rot")
        with pytest.raises(CommandError):
            call_command("fixity_check", stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    finally:
        overwrite_stored(stored.storage_name, original)
