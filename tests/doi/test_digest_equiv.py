"""The fast per-image digest writer gives exactly what the csv module writes for image_rows."""


def test_fast_digest_equals_csv_module_output(published):
    from collections_app.services import digest

    fast = "".join(digest.image_csv(published))
    plain = "".join(digest._blocks(digest.IMAGE_COLUMNS, digest.image_rows(published)))
    assert fast == plain and fast.count("\r\n") == 1 + published.image_count
