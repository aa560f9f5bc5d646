"""Schemathesis over the NBIA-compatible API (as tests/api/test_schemathesis.py does for the
REST API), from the OpenAPI description nbia.openapi builds out of the endpoint registries:
generated parameters must never give a server error. Bounded and derandomized."""
import os
from urllib.parse import urlencode

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings

from nbia.openapi import openapi
from tests.nbia.conftest import build_archive

EXAMPLES = int(os.environ.get("TCIA_FUZZ_EXAMPLES", "8"))


@pytest.mark.django_db
@pytest.mark.parametrize("generation", ["v4", "v1"])
def test_schemathesis_finds_no_server_error_in_the_nbia_api(generation, settings_override=None):
    build_archive()
    client = Client(raise_request_exception=False)
    schema = schemathesis.openapi.from_dict(openapi(generation))
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            query = {k: v for k, v in (case.query or {}).items() if v is not None}
            url = case.formatted_path + ("?" + urlencode(query, doseq=True) if query else "")
            response = client.generic(case.method, url)
            if response.status_code >= 500:
                failures.append((case.method, url[:300], response.status_code, response.content[:200]))

        run()
    assert operations >= 25
    assert failures == []
