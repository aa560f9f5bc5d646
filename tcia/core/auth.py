"""Login lockout (django-axes): the authentication backend and the answer a locked-out client gets.

Every password check that an HTTP client can drive — the login form, the admin login and
`POST /nbia-api/oauth/token` — goes through `django.contrib.auth.authenticate(request, ...)`,
so django-axes counts its failures per account and per client address
(tcia.core.clientip.client_ip) and refuses further attempts at the limit, even with the right
password, until the cool-off ends or an admin deletes the attempt record.
"""
import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """AxesStandaloneBackend, except that a check without a request (a management command or
    the test client's `login()`, never an HTTP client) is left to the next backend instead of
    refused: no one can reach it from outside, and no attempt could be counted against a client."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _minutes(request) -> int:
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 0


def lockout_response(request, original_response=None, credentials=None):
    """429 with a message that says what happened and when to try again; JSON for the token endpoint."""
    minutes = _minutes(request)
    if request.path.startswith("/nbia-api/"):
        response = JsonResponse({
            "error": "too_many_attempts",
            "error_description": f"Too many failed logins for this account or address; try again in {minutes} minutes.",
        }, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response
