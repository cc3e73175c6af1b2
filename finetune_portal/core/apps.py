from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "finetune_portal.core"
    label = "core"
