from django.contrib import admin

from finetune_portal.datasets.models import Dataset, DatasetVersion


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    extra = 0
    fields = ("number", "status", "split_role", "sha256", "byte_size", "example_count", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "created_at")
    list_filter = ("kind", "project")
    search_fields = ("name",)
    inlines = [VersionInline]


@admin.register(DatasetVersion)
class DatasetVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "split_role", "example_count", "byte_size", "created_at")
    list_filter = ("status", "split_role")
    search_fields = ("sha256", "dataset__name")
    readonly_fields = (
        "dataset",
        "number",
        "file",
        "sha256",
        "byte_size",
        "parent",
        "uploaded_by",
        "created_at",
    )
