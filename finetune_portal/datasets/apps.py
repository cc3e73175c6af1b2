from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "finetune_portal.datasets"
    label = "datasets"
