"""DOI settings, read from Django settings first and then from the environment.

TCIA_DOI_PROVIDER      "local" (default: the archive is its own registry) or "datacite"
TCIA_DOI_PREFIX        prefix for minted DOIs (settings, default 10.80000)
TCIA_SITE_URL          public base URL of the portal, used in DOI target URLs (http://127.0.0.1:8000)
DATACITE_USERNAME, DATACITE_PASSWORD   repository account (never in the repository)
DATACITE_PREFIX        defaults to TCIA_DOI_PREFIX
DATACITE_TEST_MODE     1 → https://api.test.datacite.org/
DATACITE_URL           API base URL override (used by the tests' local recording server)
"""
import os

from django.conf import settings


def get(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def site_url() -> str:
    """The base URL DOIs are registered with (no request at minting time); pages use
    tcia.core.site.site_url(request), which falls back to the request's address instead."""
    return (get("TCIA_SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def doi_prefix() -> str:
    return get("TCIA_DOI_PREFIX", "10.80000")


def provider_name() -> str:
    return get("TCIA_DOI_PROVIDER", "local").strip().lower() or "local"


def publisher_name() -> str:
    return get("TCIA_SITE_NAME", "Open Cancer Imaging Archive")
