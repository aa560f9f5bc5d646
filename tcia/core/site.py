"""The portal's identity on every page: its name and public base URL, and its icon.

`site_url(request)` is TCIA_SITE_URL when set (the address DOIs resolve to), else the address
the request came to, so links in lists and manifests work wherever the portal is served.
"""
from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponsePermanentRedirect


def site_name() -> str:
    return getattr(settings, "TCIA_SITE_NAME", "") or "Open Cancer Imaging Archive"


def site_url(request=None) -> str:
    configured = (getattr(settings, "TCIA_SITE_URL", "") or "").rstrip("/")
    if configured or request is None:
        return configured or "http://127.0.0.1:8000"
    return request.build_absolute_uri("/").rstrip("/")


def favicon(request):
    """/favicon.ico, which browsers ask for on every page whatever the <link rel=icon> says."""
    return HttpResponsePermanentRedirect(staticfiles_storage.url("favicon.svg"))
