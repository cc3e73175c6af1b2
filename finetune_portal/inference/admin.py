from django.contrib import admin

from finetune_portal.inference.models import ChatAnswer


@admin.register(ChatAnswer)
class ChatAnswerAdmin(admin.ModelAdmin):
    list_display = ("created_at", "project", "user", "source", "model_name", "finish_reason", "cost_usd")
    list_filter = ("source", "provider", "finish_reason")
    search_fields = ("model_name", "output", "error")
    raw_id_fields = ("project", "user", "fine_tuned_model", "checkpoint")
    date_hierarchy = "created_at"

    # A ledger: answers are recorded by the portal, never written by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
