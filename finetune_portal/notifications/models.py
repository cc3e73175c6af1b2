from __future__ import annotations

from django.conf import settings
from django.db import models

from finetune_portal.core.fields import EncryptedTextField
from finetune_portal.core.models import TimeStampedModel


class JobEvent(models.TextChoices):
    """What a notification is about; the values match accounts' NotificationSettings fields."""

    SUCCEEDED = "succeeded", "Job succeeded"
    FAILED = "failed", "Job failed"
    CANCELLED = "cancelled", "Job cancelled by someone else"
    NEEDS_APPROVAL = "needs_approval", "Job needs approval"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Gave up"


class Notification(TimeStampedModel):
    """One message about one job event to one recipient. The unique key makes an event notify each
    recipient once however often it is reported; the send task claims the row before sending."""

    job = models.ForeignKey("jobs.FineTuningJob", on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=24, choices=JobEvent.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # "user:<id>" or "webhook": the unique key (a NULL recipient would not be unique in SQL).
    recipient_key = models.CharField(max_length=40)
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "event", "recipient_key"], name="notification_once_per_event_and_recipient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} of job {self.job_id} to {self.recipient_key} ({self.status})"


class ProjectWebhook(TimeStampedModel):
    """A project's chat webhook (Slack-compatible: a POST of {"text": ...}). Its URL is a secret."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="webhook")
    url = EncryptedTextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"webhook of {self.project}"
