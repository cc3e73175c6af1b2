from django.contrib import admin

from finetune_portal.registry.models import FineTunedModel


@admin.register(FineTunedModel)
class FineTunedModelAdmin(admin.ModelAdmin):
    list_display = ("__str__", "base_model", "job", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("provider_model_id", "adapter_uri", "hf_repo_id", "base_model")
    raw_id_fields = ("job",)
