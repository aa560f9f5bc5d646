"""The one way a view follows a `next` parameter: only to a path on this site.

`url_has_allowed_host_and_scheme` refuses other hosts, scheme-relative `//evil.example/`,
backslash tricks and `javascript:`; anything refused falls back to the view's own default.
"""
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, fallback: str, *, name: str = "next") -> str:
    """The `next` of the POST (else the query string) when it stays on this site, else `fallback`."""
    candidate = request.POST.get(name) or request.GET.get(name) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def redirect_next(request, fallback: str, *, name: str = "next"):
    return redirect(safe_next(request, fallback, name=name))
