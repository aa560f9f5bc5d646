"""An OpenAPI 3 description of the NBIA-compatible API, built from the endpoint registries
(queries.METADATA_ENDPOINTS, views.EXTRA_ENDPOINTS, views.DOWNLOAD_ENDPOINTS), so it lists
exactly what the views accept. NBIA publishes none; this one lets schemathesis fuzz the API
(tests/security/test_nbia_schemathesis.py) and documents the parameters in one place."""
from .queries import METADATA_ENDPOINTS, V1_ONLY_ENDPOINTS


INDICES = range(3)  # a numbered parameter ("criteriaType{i}") is described for these indices


def _names(params: tuple[str, ...]) -> list[str]:
    from .views import NUMBERED

    return [n for p in params for n in ([p[:-len(NUMBERED)] + str(i) for i in INDICES] if p.endswith(NUMBERED) else [p])]


def _operation(name: str, params: tuple[str, ...], *, binary: bool = False) -> dict:
    return {
        "operationId": name,
        "parameters": [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}}
                       for p in _names(params)],
        "responses": {
            "200": {"description": "Rows (JSON, CSV, XML or HTML by `format`)" if not binary else "A file or a zip"},
            "204": {"description": "No rows (getSeriesMetaData)"},
            "400": {"description": "A missing or unknown parameter, or an unknown format, with the reason"},
            "401": {"description": "An invalid bearer token"},
            "404": {"description": "Unknown series or endpoint"},
            "405": {"description": "Wrong method"},
            "429": {"description": "Throttled"},
        },
    }


def openapi(generation: str = "v4") -> dict:
    from .views import DOWNLOAD_ENDPOINTS, EXTRA_ENDPOINTS

    paths = {}
    endpoints = dict(METADATA_ENDPOINTS)
    if generation != "v4":
        endpoints.update(V1_ONLY_ENDPOINTS)
    for name, spec in endpoints.items():
        params = (spec.v1_params if generation == "v1" and spec.v1_params else spec.params) + ("format",)
        paths[f"/nbia-api/services/{generation}/{name}"] = {
            method.lower(): _operation(name, params) for method in spec.methods}
    for name, (_handler, params, methods) in EXTRA_ENDPOINTS.items():
        paths[f"/nbia-api/services/{generation}/{name}"] = {
            method.lower(): _operation(name, params + ("format",)) for method in methods}
    for name, (_handler, params) in DOWNLOAD_ENDPOINTS.items():
        paths[f"/nbia-api/services/{generation}/{name}"] = {"get": _operation(name, params, binary=True)}
    return {
        "openapi": "3.0.3",
        "info": {"title": f"NBIA-compatible API ({generation})", "version": "1.0.0"},
        "paths": paths,
    }
