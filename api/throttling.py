"""Request rate limits of the REST API, configurable without touching REST_FRAMEWORK:
TCIA_API_ANON_RATE and TCIA_API_USER_RATE (DRF rate strings such as "3000/hour")."""
from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    def get_rate(self):
        return getattr(settings, "TCIA_API_ANON_RATE", "3000/hour")


class UserThrottle(UserRateThrottle):
    def get_rate(self):
        return getattr(settings, "TCIA_API_USER_RATE", "20000/hour")
