from django.contrib import admin

from finetune_portal.providers.peft.models import WorkerNode


@admin.register(WorkerNode)
class WorkerNodeAdmin(admin.ModelAdmin):
    list_display = ("hostname", "gpu_name", "gpu_count", "gpu_memory_gib", "bf16_supported", "last_seen_at")
    search_fields = ("hostname", "gpu_name")
    readonly_fields = ("started_at", "last_seen_at")
