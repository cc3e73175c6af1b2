from __future__ import annotations

from django.db import models

from finetune_portal.core.models import TimeStampedModel


class ModelStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    DELETED = "deleted", "Deleted"
    FAILED = "failed", "Failed"


class FineTunedModel(TimeStampedModel):
    """A trained model with its lineage: dataset version -> job -> this model."""

    job = models.OneToOneField(
        "jobs.FineTuningJob", on_delete=models.PROTECT, related_name="fine_tuned_model"
    )
    provider_model_id = models.CharField(
        max_length=255, blank=True, help_text="e.g. ft:gpt-4o-mini:org::abc123"
    )
    adapter_uri = models.CharField(max_length=500, blank=True, help_text="Where a local adapter is stored.")
    base_model = models.CharField(max_length=200)
    hf_repo_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.AVAILABLE)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(provider_model_id="", adapter_uri=""), name="model_has_a_location"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ModelStatus]), name="model_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["provider_model_id"])]

    def __str__(self) -> str:
        return self.provider_model_id or self.adapter_uri
