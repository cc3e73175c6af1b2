from django.apps import AppConfig


class SweepsConfig(AppConfig):
    name = "finetune_portal.sweeps"
    label = "sweeps"

    def ready(self) -> None:
        from finetune_portal.jobs.signals import job_status_changed
        from finetune_portal.sweeps.receivers import next_run_when_one_ends

        job_status_changed.connect(next_run_when_one_ends, dispatch_uid="sweeps-next-run")
