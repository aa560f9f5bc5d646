"""Malformed input is a 4xx with a reason, never a 500: every probe of the access matrix (GET, or
POST for the endpoints that take forms) is thrown random and mutated parameters (query strings, and path arguments within their converter),
as anonymous and as a curator. Bounded (a few examples per URL) and seeded (derandomized), so a
run costs seconds and a failure repeats."""
import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.access_matrix import EXPECT
from tests.security.world import build_world

# Parameter names the views read, plus a few no view knows.
NAMES = ["page", "since", "next", "format", "style", "a", "b", "i", "q", "sort", "series", "study", "download",
         "cursor", "page_size", "collection", "modality", "released_after", "fromDate", "Date", "Collection",
         "PatientID", "PatientId", "StudyInstanceUID", "SeriesInstanceUID", "SeriesUID", "SOPInstanceUID", "list",
         "Modality", "BodyPartExamined", "includeAnnotation", "DOI", "CollectionOrSeries", "NewFileNames",
         "IncludeMD5", "status", "access", "license", "verdict", "filter", "likely", "tag", "scope", "kind", "x"]
NASTY = ["", " ", "abc", "-1", "0", "1e9", "99999999999999999999999", "9" * 40, "NaN", "null", "[]", "{}", "%",
         "\x00", "'; DROP TABLE x;--", "../../etc/passwd", "//evil.example", "javascript:alert(1)", "é\u202e",
         "2024-13-45", "01-01-2024", "1.2.3", "<script>", "a" * 3000, "true", "csv", "json", "xml", "html"]
values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40), st.integers().map(str),
                   st.floats(allow_nan=True).map(str))
queries = st.dictionaries(st.sampled_from(NAMES), st.one_of(values, st.lists(values, max_size=3)), max_size=4)
# Path arguments: text a <str:>/<slug:> converter accepts, and any digits for <int:>.
path_text = st.one_of(st.sampled_from(["x", "-", "0", "9" * 25, "a" * 300, "%00", "..", "10.1234/x"]),
                      st.text(alphabet=st.characters(blacklist_characters="/?#", blacklist_categories=("Cs",)),
                              min_size=1, max_size=30))
path_int = st.one_of(st.integers(min_value=0, max_value=2**70), st.sampled_from([0, 2**31, 2**63, 10**30]))

EXAMPLES = int(__import__("os").environ.get("TCIA_FUZZ_EXAMPLES", "4"))  # per URL pattern and role


def _mutated_kwargs(kwargs: dict, draw) -> dict:
    out = {}
    for key, value in kwargs.items():
        if draw(st.booleans()):
            out[key] = value
        elif isinstance(value, int):
            out[key] = draw(path_int)
        else:
            out[key] = draw(path_text)
    return out


@pytest.mark.django_db
def test_no_get_view_answers_500_to_bad_input():
    world = build_world()
    clients = {"anonymous": Client(raise_request_exception=False), "curator": Client(raise_request_exception=False)}
    clients["curator"].force_login(world.users["curator"])
    failures = []
    probes = [(name, probe) for name, entries in EXPECT.items() for probe in entries[:2]]

    for name, probe in probes:
        base_kwargs = probe.kwargs(world)
        base_query = probe.query(world)

        @given(data=st.data())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(data):
            kwargs = _mutated_kwargs(base_kwargs, data.draw)
            try:
                url = reverse(name, kwargs=kwargs)
            except Exception:  # a value the converter refuses is no URL at all
                return
            query = {**base_query, **data.draw(queries)}
            for role, client in clients.items():
                response = getattr(client, probe.method)(url, query)
                if response.status_code >= 500:
                    failures.append(f"{name} as {role}: {response.status_code} for {url} {query!r}"[:400])

        run()
        # And a sweep: every parameter name at once, set to each of a few bad values.
        url = reverse(name, kwargs=base_kwargs)
        for bad in ("abc", "-1", "9" * 30, "\x00", ""):
            for role, client in clients.items():
                response = getattr(client, probe.method)(url, {**base_query, **{n: bad for n in NAMES}})
                if response.status_code >= 500:
                    failures.append(f"{name} as {role}: {response.status_code} for {url} with every parameter {bad!r}")
    assert len(probes) > 140
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:40])


@pytest.mark.django_db
def test_nul_characters_are_a_400_with_a_reason(client):
    for response in (client.get("/", {"q": "lung\x00"}), client.post("/cart/", {"action": "add", "next": "/\x00"}),
                     client.get("/nbia-api/services/v4/getSeries", {"Collection": "\x00"})):
        assert response.status_code == 400
        assert b"NUL" in response.content
