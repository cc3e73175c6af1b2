from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "finetune_portal.credentials"
    label = "credentials"
