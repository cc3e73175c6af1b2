from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "finetune_portal.evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        from finetune_portal.evaluations import receivers  # noqa: F401  (connects the job listener)
