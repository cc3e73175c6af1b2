from django.apps import AppConfig


class OpenAIProviderConfig(AppConfig):
    name = "finetune_portal.providers.openai"
    label = "openai_provider"
    verbose_name = "OpenAI provider"
