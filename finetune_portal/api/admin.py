from django.contrib import admin

from finetune_portal.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Read-only: tokens are created and revoked on the tokens page or by `manage.py api_token`, which
    audit; the digest is useless to show."""

    list_display = ("name", "display_prefix", "user", "project", "created_at", "last_used_at", "revoked_at")
    list_filter = ("project",)
    search_fields = ("name", "lookup", "user__username")
    exclude = ("digest",)
    readonly_fields = ("user", "project", "name", "lookup", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
