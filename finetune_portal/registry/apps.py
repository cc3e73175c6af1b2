from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "finetune_portal.registry"
    label = "registry"
