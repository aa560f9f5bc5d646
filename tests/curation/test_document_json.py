"""DocumentJSONField: the chunk's JSON documents are written as VALUES literals and read back
exactly (quotes, backslashes, non-ASCII and nesting included)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collections_app.models import Image
from curation import hooks
from curation.checks.models import FileFacts
from curation.phi.models import DeidObservation
from curation.services.intake import Intake, start_batch

from .intake_helpers import make_submission, sample_bytes

pytestmark = pytest.mark.django_db


def test_documents_of_a_chunk_round_trip_and_skip_the_array_literal(monkeypatch):
    if not hooks.has_ingest_hooks():
        pytest.skip("the apps' ingest hooks are not registered")
    submission = make_submission(prefix="DOCJ")
    intake = Intake(submission, start_batch(submission=submission, source="cli"))
    files = [(sample_bytes(SOPInstanceUID=f"1.2.3.4.{i}", SeriesDescription='say "hi" \\ to Zoë {x}'), f"f{i}.dcm", None)
             for i in range(3)]
    with CaptureQueriesContext(connection) as queries:
        items = intake.take_many(files)
    assert [i.outcome for i in items] == ["accepted"] * 3
    inserts = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith(("INSERT INTO \"checks_filefacts\"", "INSERT INTO \"phi_deidobservation\""))]
    assert len(inserts) == 2
    if connection.vendor == "postgresql":
        assert not any("UNNEST" in sql for sql in inserts)
    images = list(Image.objects.filter(collection=submission.collection))
    assert len(images) == 3
    facts_rows = list(FileFacts.objects.filter(stored_file_id__in=[i.stored_file_id for i in images]))
    assert len(facts_rows) == 3
    for facts in facts_rows:
        assert facts.header.get("SeriesDescription") == ['say "hi"', ' to Zoë {x}']  # a backslash parts DICOM values
    assert DeidObservation.objects.filter(image_id__in=[i.pk for i in images]).count() == 3
    for row in DeidObservation.objects.filter(image_id__in=[i.pk for i in images]):
        assert set(row.checks) >= {"identifiers", "uids"} and isinstance(row.carry, dict)
