from __future__ import annotations

from django.conf import settings
from django.db import models

from finetune_portal.core.fields import EncryptedTextField
from finetune_portal.core.models import TimeStampedModel


class CredentialKind(models.TextChoices):
    OPENAI = "openai", "OpenAI (or compatible)"
    HUGGINGFACE = "huggingface", "Hugging Face"


class ActiveCredentialQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ProviderCredential(TimeStampedModel):
    """A provider API key. The secret is encrypted at rest and never rendered, only its last four."""

    kind = models.CharField(max_length=16, choices=CredentialKind.choices)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="credentials",
        help_text="Empty for a site-wide credential.",
    )
    label = models.CharField(max_length=120)
    secret = EncryptedTextField()
    last_four = models.CharField(max_length=4)
    base_url = models.URLField(
        blank=True, help_text="For OpenAI-compatible endpoints; empty for api.openai.com."
    )
    options = models.JSONField(
        default=dict, blank=True, help_text="Provider options such as organization, or Azure api_version."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ActiveCredentialQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "label"]
        constraints = [
            # One active credential per kind and scope, so "the project's, else the site's" is unambiguous.
            models.UniqueConstraint(
                fields=["kind", "project"],
                condition=models.Q(revoked_at__isnull=True, project__isnull=False),
                name="credential_one_active_per_project",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(revoked_at__isnull=True, project__isnull=True),
                name="credential_one_active_site_wide",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in CredentialKind]), name="credential_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_kind_display()}, {self.masked})"

    @property
    def masked(self) -> str:
        return f"••••{self.last_four}"

    @property
    def scope_label(self) -> str:
        return self.project.name if self.project_id else "Site-wide"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
