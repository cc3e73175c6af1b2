from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from finetune_portal.core.models import TimeStampedModel
from finetune_portal.projects.models import Role


class Invitation(TimeStampedModel):
    """An e-mail invitation into a project. Its link is signed and expires; it can be used once."""

    email = models.EmailField()
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per address and project: inviting again re-sends it.
            models.UniqueConstraint(
                Lower("email"),
                "project",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email_and_project",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="invitation_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.project} ({self.get_role_display()})"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class NotificationSettings(models.Model):
    """Which job e-mails a person gets. No row means the defaults: every one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    job_succeeded = models.BooleanField("A job I launched succeeded", default=True)
    job_failed = models.BooleanField("A job I launched failed", default=True)
    job_cancelled = models.BooleanField("Someone else cancelled a job I launched", default=True)
    job_needs_approval = models.BooleanField(
        "A job waits for my approval (ML leads and admins)", default=True
    )

    def __str__(self) -> str:
        return f"notification settings of {self.user}"

    def wants(self, event: str) -> bool:
        return bool(getattr(self, f"job_{event}", True))
