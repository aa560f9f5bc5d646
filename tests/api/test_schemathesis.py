"""Schemathesis against the running API: generated requests from the OpenAPI schema must never
produce a server error (bounded: a few examples per operation)."""
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.nbia.conftest import build_archive


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error(live_server, settings_override=None):
    build_archive()
    raw = requests.get(live_server.url + "/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(base_url=live_server.url, timeout=30)
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.query, response.status_code, response.text[:300]))

        run()
    assert operations >= 14
    assert failures == []
