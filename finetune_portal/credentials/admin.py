from django.contrib import admin

from finetune_portal.credentials.models import ProviderCredential


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    """Secrets are never shown or edited here; use the portal's credentials page, which audits."""

    list_display = ("label", "kind", "scope_label", "masked", "created_by", "last_used_at", "revoked_at")
    list_filter = ("kind", "project")
    search_fields = ("label",)
    exclude = ("secret",)
    readonly_fields = ("kind", "project", "last_four", "created_by", "last_used_at", "revoked_at")

    def has_add_permission(self, request):
        return False
