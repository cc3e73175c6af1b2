from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "finetune_portal.datasets"
    label = "datasets"

    def ready(self):
        from finetune_portal.celery import register_periodic_task

        # A validation lost to a crashed worker or a lost message is started again.
        register_periodic_task(
            "datasets-resume-stale-validations",
            "finetune_portal.datasets.tasks.dataset_versions_resume_stale_task",
            seconds=300,
        )
