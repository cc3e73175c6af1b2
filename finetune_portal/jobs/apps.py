from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "finetune_portal.jobs"
    label = "jobs"
