"""Request rate limits of the REST API and the NBIA-compatible API, configurable without touching
REST_FRAMEWORK: TCIA_API_ANON_RATE and TCIA_API_USER_RATE (DRF rate strings such as "3000/hour").

Anonymous callers are counted by their real address (tcia.core.clientip.client_ip): a new
`X-Forwarded-For` on every request changes nothing unless the peer is a trusted proxy.
"""
from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from tcia.core.clientip import client_ip


class AnonThrottle(AnonRateThrottle):
    def get_rate(self):
        return getattr(settings, "TCIA_API_ANON_RATE", "3000/hour")

    def get_ident(self, request):
        return client_ip(request)


class UserThrottle(UserRateThrottle):
    def get_rate(self):
        return getattr(settings, "TCIA_API_USER_RATE", "20000/hour")

    def get_ident(self, request):
        return client_ip(request)


def throttled(request) -> float | None:
    """For plain Django views (the NBIA API): None if the request may go on, else the seconds
    to wait. The same counters and rates as the REST API, so one client has one budget."""
    for throttle in (AnonThrottle(), UserThrottle()):
        if not throttle.allow_request(request, None):
            return throttle.wait() or 1.0
    return None
