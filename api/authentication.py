"""REST API authentication with the same bearer tokens the NBIA API hands out
(`POST /nbia-api/oauth/token`): `Authorization: Bearer <token>` (or `Token <token>`)."""
from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from nbia import tokens


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = tokens.bearer_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw is None:
            return None
        try:
            user = tokens.user_for_access_token(raw)
        except tokens.InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if isinstance(user, AnonymousUser):
            return None  # a guest token is the public's view
        return (user, raw)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension
except ImportError:  # the schema generator is optional at run time
    pass
else:

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "api.authentication.BearerTokenAuthentication"
        name = "bearerAuth"

        def get_security_definition(self, auto_schema):
            return {
                "type": "http",
                "scheme": "bearer",
                "description": "Access token from POST /nbia-api/oauth/token (grant_type=password).",
            }
