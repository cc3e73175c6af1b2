from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "finetune_portal.notifications"
    label = "notifications"

    def ready(self) -> None:
        from finetune_portal.celery import register_periodic_task
        from finetune_portal.jobs.signals import job_status_changed
        from finetune_portal.notifications.receivers import job_status_changed_notify

        job_status_changed.connect(job_status_changed_notify, dispatch_uid="notifications.job_status_changed")
        register_periodic_task(
            "notifications-send-waiting",
            "finetune_portal.notifications.tasks.notifications_send_waiting_task",
            seconds=300,
        )
