from django.contrib import admin

from finetune_portal.jobs.models import Checkpoint, FineTuningJob, JobEvent, JobTransition, MetricPoint


class TransitionInline(admin.TabularInline):
    model = JobTransition
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "reason", "actor", "created_at")


@admin.register(FineTuningJob)
class FineTuningJobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "project", "provider", "method", "base_model", "status", "created_at")
    list_filter = ("status", "provider", "method", "project")
    search_fields = ("name", "base_model", "provider_job_id")
    raw_id_fields = ("training_version", "validation_version", "credential", "created_by")
    # Status only moves through job_transition(); the admin must not bypass the machine.
    readonly_fields = ("status", "status_changed_at", "provider_job_id")
    inlines = [TransitionInline]


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ("job", "level", "message", "created_at")
    list_filter = ("level",)
    raw_id_fields = ("job",)


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ("job", "step", "train_loss", "valid_loss", "epoch")
    raw_id_fields = ("job",)


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin):
    list_display = ("job", "step", "provider_checkpoint_id", "storage_uri")
    raw_id_fields = ("job",)
