from django.apps import AppConfig

# Every minute the reaper looks for local jobs whose worker has gone silent.
REAPER_INTERVAL_SECONDS = 60


class PeftProviderConfig(AppConfig):
    name = "finetune_portal.providers.peft"
    label = "peft_provider"
    verbose_name = "Local GPU provider (PEFT)"

    def ready(self) -> None:
        from celery.signals import worker_ready

        from finetune_portal.celery import register_periodic_task
        from finetune_portal.credentials.checks import register_credential_check
        from finetune_portal.providers.peft.key_check import huggingface_credential_check
        from finetune_portal.providers.peft.signals import worker_report_hardware

        register_periodic_task(
            "peft-reap-stalled-jobs",
            "finetune_portal.providers.peft.tasks.jobs_reap_task",
            REAPER_INTERVAL_SECONDS,
            queue="default",
        )
        register_credential_check("huggingface", huggingface_credential_check)
        worker_ready.connect(worker_report_hardware, dispatch_uid="peft-worker-report-hardware")
