from django.contrib import admin

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are shown for revocation only; their secrets were never stored."""

    list_display = ["user", "client_id", "created_at", "access_expires_at", "refresh_expires_at", "revoked_at"]
    list_filter = ["client_id"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "client_id", "access_digest", "refresh_digest", "access_expires_at",
                       "refresh_expires_at", "created_at"]

    def has_add_permission(self, request):
        return False
