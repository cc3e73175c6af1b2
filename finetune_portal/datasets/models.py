from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from finetune_portal.core.models import TimeStampedModel
from finetune_portal.providers.registry import default_provider_key


class DatasetKind(models.TextChoices):
    CHAT = "chat", "Chat (SFT)"
    COMPLETION = "completion", "Prompt / completion"
    ALPACA = "alpaca", "Alpaca"
    TEXT = "text", "Plain text (causal LM)"
    DPO = "dpo", "DPO preference"
    VISION = "vision", "Vision chat"
    RFT = "rft", "Reinforcement (RFT)"


class VersionStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    VALIDATING = "validating", "Validating"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"


class SplitRole(models.TextChoices):
    TRAIN = "train", "Training"
    VALIDATION = "validation", "Validation"


class Dataset(TimeStampedModel):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=DatasetKind.choices, default=DatasetKind.CHAT)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Archived: hidden from lists and launch forms, still reachable by its address.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_unique_name_per_project"),
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in DatasetKind]), name="dataset_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


def version_upload_to(version: DatasetVersion, filename: str) -> str:
    return f"datasets/{version.dataset.project_id}/{version.dataset_id}/{version.sha256}.jsonl"


class DatasetVersion(models.Model):
    """One immutable file of a dataset. Only its validation outcome changes after creation."""

    IMMUTABLE_FIELDS = ("dataset_id", "file", "sha256", "byte_size", "parent_id", "number", "split_role")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to=version_upload_to, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    byte_size = models.BigIntegerField()
    example_count = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.UPLOADED)
    validation_report = models.JSONField(default=dict, blank=True)
    split_role = models.CharField(max_length=16, choices=SplitRole.choices, default=SplitRole.TRAIN)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    note = models.CharField(max_length=255, blank=True, help_text="How this version was made.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    # The provider key the estimate in the report is for; chosen at upload.
    validation_target = models.CharField(max_length=16, default=default_provider_key)
    validation_base_model = models.CharField(max_length=200, blank=True)
    # Live progress of the validation, saved by the worker every second or so.
    validation_lines_read = models.BigIntegerField(default=0)
    validation_bytes_read = models.BigIntegerField(default=0)
    validation_errors_so_far = models.PositiveIntegerField(default=0)
    validation_progress_at = models.DateTimeField(null=True, blank=True)
    # Archived: hidden from the dataset's list and launch forms, still reachable by its address.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="version_unique_number"),
            models.UniqueConstraint(fields=["dataset", "sha256"], name="version_unique_content"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in VersionStatus]), name="version_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(byte_size__gte=0), name="version_size_non_negative"),
        ]
        indexes = [models.Index(fields=["sha256"]), models.Index(fields=["dataset", "status"])]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    def save(self, *args, **kwargs):
        # The bytes a job trained on must never change under it: refuse edits to the file's identity.
        if self.pk is not None:
            stored = DatasetVersion.objects.filter(pk=self.pk).values(*self.IMMUTABLE_FIELDS).first()
            if stored is not None:
                changed = [
                    name
                    for name in self.IMMUTABLE_FIELDS
                    if stored[name] != (getattr(self, name).name if name == "file" else getattr(self, name))
                ]
                if changed:
                    raise ValidationError(
                        f"Dataset versions are immutable; cannot change {', '.join(changed)}."
                    )
        super().save(*args, **kwargs)

    @property
    def is_selectable_for_jobs(self) -> bool:
        return self.status == VersionStatus.VALID

    @property
    def is_settled(self) -> bool:
        return self.status in (VersionStatus.VALID, VersionStatus.INVALID)

    @property
    def progress_percent(self) -> int | None:
        if self.is_settled:
            return 100
        if not self.byte_size:
            return 0
        return min(99, int(100 * self.validation_bytes_read / self.byte_size))
