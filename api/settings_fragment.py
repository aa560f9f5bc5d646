"""Settings the REST API works with, to merge into tcia/settings.py (the API does not need them
to run: its views set their own schema class, authentication, throttles and pagination, and the
docs page serves the Swagger UI assets itself).

Suggested merge:

    INSTALLED_APPS += ["django_filters", "drf_spectacular", "drf_spectacular_sidecar"]
    REST_FRAMEWORK.update(REST_FRAMEWORK_EXTRA)
    SPECTACULAR_SETTINGS = SPECTACULAR_SETTINGS
    TCIA_API_ANON_RATE / TCIA_API_USER_RATE from the environment (below).
"""
import os

REST_FRAMEWORK_EXTRA = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"anon": "3000/hour", "user": "20000/hour"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Open Cancer Imaging Archive REST API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

TCIA_API_ANON_RATE = os.environ.get("TCIA_API_ANON_RATE", "3000/hour")
TCIA_API_USER_RATE = os.environ.get("TCIA_API_USER_RATE", "20000/hour")
