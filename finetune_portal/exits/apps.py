from django.apps import AppConfig


class ExitsConfig(AppConfig):
    name = "finetune_portal.exits"
    verbose_name = "Exits from providers that shut down"
