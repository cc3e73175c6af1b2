from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "finetune_portal.playground"
    label = "playground"
    verbose_name = "Playground"
