from __future__ import annotations

from django.contrib import admin

from finetune_portal.providers.openai.models import UploadedFile


@admin.register(UploadedFile)
class UploadedFileAdmin(admin.ModelAdmin):
    list_display = ("provider_file_id", "sha256", "credential", "byte_size", "created_at")
    search_fields = ("provider_file_id", "sha256")
    readonly_fields = ("credential", "sha256", "provider_file_id", "byte_size", "created_at")
