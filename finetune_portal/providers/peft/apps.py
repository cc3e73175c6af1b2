from django.apps import AppConfig


class PeftProviderConfig(AppConfig):
    name = "finetune_portal.providers.peft"
    label = "peft_provider"
    verbose_name = "Local GPU provider (PEFT)"
