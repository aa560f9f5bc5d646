"""Bearer tokens for the NBIA-compatible API (and the REST API).

Tokens are random strings handed out once by `POST /nbia-api/oauth/token`; only their sha256
is stored, so a database dump does not leak working tokens. An access token lives two hours,
as TCIA's did; its refresh token lives longer and is single-use (refreshing rotates both).
"""
from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="nbia_tokens",
        help_text="Empty for the guest user (nbia_guest), who sees what the public sees.",
    )
    client_id = models.CharField(max_length=100, blank=True, help_text="The client_id the caller sent.")
    access_digest = models.CharField(max_length=64, unique=True, help_text="sha256 hex of the access token.")
    refresh_digest = models.CharField(max_length=64, unique=True, help_text="sha256 hex of the refresh token.")
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set when the refresh token was used or revoked.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["access_expires_at"], name="nbia_token_expiry_idx")]

    def __str__(self):
        return f"token for {self.user or 'guest'} ({self.created_at:%Y-%m-%d %H:%M})"


class SharedCart(models.Model):
    """A cart saved under a name so its link can be shared, as NBIA's "Share my cart" does;
    `getContentsByName?name=` (v1) lists its series (nbia/shared_carts.py)."""

    name = models.CharField(
        max_length=64, unique=True,
        help_text="The name in the shared link and in getContentsByName?name= (letters, digits, '.', '_', '-').",
    )
    series = models.ManyToManyField("collections_app.Series", related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty when a visitor who was not logged in shared the cart.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name
