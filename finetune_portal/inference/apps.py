from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "finetune_portal.inference"
    label = "inference"
    verbose_name = "Inference"

    def ready(self) -> None:
        from finetune_portal.inference.catalog_cache import connect_signals

        connect_signals()
