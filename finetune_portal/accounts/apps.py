from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "finetune_portal.accounts"
    label = "accounts"
