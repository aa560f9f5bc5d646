"""Issuing, refreshing and resolving bearer tokens (services for `ApiToken`)."""
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth import authenticate
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone

from tcia.core.audit import log

from .models import ApiToken

ACCESS_SECONDS = 7200
REFRESH_SECONDS = 30 * 24 * 3600
GUEST_USERNAME = "nbia_guest"


class TokenError(Exception):
    """An OAuth error: `code` is the OAuth error name, `status` the HTTP status to answer with."""

    def __init__(self, code: str, description: str, status: int = 400):
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


@dataclass
class IssuedToken:
    access_token: str
    refresh_token: str
    token: ApiToken

    def as_json(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_SECONDS,
            "refresh_token": self.refresh_token,
            "refresh_expires_in": REFRESH_SECONDS,
            "scope": "openid",
        }


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _issue(user, client_id: str, now=None) -> IssuedToken:
    now = now or timezone.now()
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(40)
    token = ApiToken.objects.create(
        user=user,
        client_id=client_id[:100],
        access_digest=digest(access),
        refresh_digest=digest(refresh),
        access_expires_at=now + dt.timedelta(seconds=ACCESS_SECONDS),
        refresh_expires_at=now + dt.timedelta(seconds=REFRESH_SECONDS),
    )
    return IssuedToken(access, refresh, token)


def password_grant(*, username: str, password: str, client_id: str = "", request=None) -> IssuedToken:
    if not username:
        raise TokenError("invalid_request", "Missing parameter: username")
    if username == GUEST_USERNAME:
        # TCIA substitutes the guest password itself; a guest token is the public's view.
        return _issue(None, client_id)
    # Outside any transaction: the failed attempt django-axes records must survive the error
    # answer, or password guessing would never be counted (tcia.core.auth).
    user = authenticate(request, username=username, password=password or "")
    if user is None or not user.is_active:
        raise TokenError("invalid_grant", "Invalid user credentials", status=401)
    with transaction.atomic():
        issued = _issue(user, client_id)
        log("nbia.token_issued", actor=user, obj=issued.token, client_id=client_id[:100])
    return issued


@transaction.atomic
def refresh_grant(*, refresh_token: str, client_id: str = "") -> IssuedToken:
    if not refresh_token:
        raise TokenError("invalid_request", "Missing parameter: refresh_token")
    now = timezone.now()
    token = (
        ApiToken.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(refresh_digest=digest(refresh_token))
        .first()
    )
    if token is None or token.revoked_at is not None or token.refresh_expires_at <= now:
        raise TokenError("invalid_grant", "Invalid refresh token")
    if token.user is not None and not token.user.is_active:
        raise TokenError("invalid_grant", "Account disabled")
    token.revoked_at = now
    token.access_expires_at = min(token.access_expires_at, now)
    token.save(update_fields=["revoked_at", "access_expires_at"])
    return _issue(token.user, client_id or token.client_id, now)


class InvalidToken(Exception):
    pass


def user_for_access_token(raw: str):
    """The user an access token stands for (AnonymousUser for a guest token); InvalidToken if
    the token is unknown, expired or revoked."""
    token = ApiToken.objects.select_related("user").filter(access_digest=digest(raw)).first()
    now = timezone.now()
    if token is None or token.access_expires_at <= now or (token.revoked_at is not None and token.revoked_at <= now):
        raise InvalidToken("The access token is invalid or has expired.")
    if token.user is None:
        return AnonymousUser()
    if not token.user.is_active:
        raise InvalidToken("The account of this token is disabled.")
    return token.user


def bearer_from_header(header: str) -> str | None:
    if not header:
        return None
    parts = header.split(None, 1)
    if len(parts) == 2 and parts[0].lower() in {"bearer", "token"}:
        return parts[1].strip()
    return None
