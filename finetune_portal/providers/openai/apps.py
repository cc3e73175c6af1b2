from __future__ import annotations

from django.apps import AppConfig


class OpenAIProviderConfig(AppConfig):
    name = "finetune_portal.providers.openai"
    label = "openai_provider"
    verbose_name = "OpenAI provider"

    def ready(self) -> None:
        from finetune_portal.celery import register_periodic_task
        from finetune_portal.credentials.checks import register_credential_check
        from finetune_portal.providers.openai.key_check import openai_credential_check

        register_credential_check("openai", openai_credential_check)

        # Beat only fans out: each due job gets its own short poll task on the openai queue.
        register_periodic_task(
            "openai-poll-due-jobs", "finetune_portal.providers.openai.tasks.jobs_poll_due_task", 5, "openai"
        )
        register_periodic_task(
            "openai-reap-stuck-jobs", "finetune_portal.providers.openai.tasks.jobs_reap_task", 300, "openai"
        )
        # OpenAI may announce or move a shutdown date in its models list; once a day is enough.
        register_periodic_task(
            "openai-shutdown-dates",
            "finetune_portal.providers.openai.tasks.shutdown_dates_refresh_task",
            24 * 3600,
            "openai",
        )
