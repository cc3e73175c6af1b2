from django.apps import AppConfig

POLL_SECONDS = 60


class CapturesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "finetune_portal.captures"
    verbose_name = "Captured answers"

    def ready(self) -> None:
        from finetune_portal.celery import register_periodic_task

        register_periodic_task(
            "captures-poll", "finetune_portal.captures.tasks.captures_poll_task", POLL_SECONDS
        )
