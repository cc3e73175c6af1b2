from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "finetune_portal.inference"
    label = "inference"
    verbose_name = "Inference"
