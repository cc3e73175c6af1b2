from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "finetune_portal.projects"
    label = "projects"
