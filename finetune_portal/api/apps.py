from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "finetune_portal.api"
    label = "api"
    verbose_name = "OpenAI-compatible API"
