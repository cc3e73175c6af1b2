"""A capture: a fine-tuned model at a provider that shuts models down, asked a set of prompts while it
still answers, its answers kept as a new dataset version. One item row per prompt, stored as it is
answered, so a restarted worker resumes where it stopped and nothing is asked (and paid) twice."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

PROBES = "probes"


class CaptureStatus(models.TextChoices):
    RUNNING = "running", "Capturing"
    SUCCEEDED = "succeeded", "Captured"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class CaptureMode(models.TextChoices):
    DIRECT = "direct", "Direct calls, now"
    BATCH = "batch", "Batch API, within 24 hours"


class Capture(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="captures")
    fine_tuned_model = models.ForeignKey(
        "registry.FineTunedModel", on_delete=models.CASCADE, related_name="captures"
    )
    model_name = models.CharField(max_length=300, help_text="The served model's name (ft:...).")
    source_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_label = models.CharField(max_length=200, help_text='"<dataset> v3", or "saved probes".')
    mode = models.CharField(max_length=8, choices=CaptureMode.choices, default=CaptureMode.DIRECT)
    max_tokens = models.PositiveIntegerField(default=512)
    status = models.CharField(max_length=16, choices=CaptureStatus.choices, default=CaptureStatus.RUNNING)
    item_count = models.PositiveIntegerField(default=0)
    cost_estimate_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    batch_id = models.CharField(max_length=100, blank=True, help_text="The provider's batch id.")
    batch_status = models.CharField(max_length=32, blank=True, help_text="The provider's word for it.")
    batch_checked_at = models.DateTimeField(null=True, blank=True)
    stepped_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last worked on it.")
    result_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    start_token = models.CharField(
        max_length=64, null=True, blank=True, unique=True, help_text="One capture per rendering of the form."
    )
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"capture {self.pk} of {self.model_name}"

    @property
    def is_settled(self) -> bool:
        return self.status != CaptureStatus.RUNNING


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Asking"
    DONE = "done", "Answered"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Failed"


SETTLED = (ItemStatus.DONE, ItemStatus.REFUSED, ItemStatus.FAILED)


class CaptureItem(models.Model):
    capture = models.ForeignKey(Capture, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField(help_text="The prompt's place in its source, from 0.")
    messages = models.JSONField(help_text="The conversation the model is asked.")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    output = models.TextField(blank=True)
    answer = models.OneToOneField(
        "inference.ChatAnswer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True, help_text="The provider's words, or why it will be asked again.")
    attempts = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="Not asked again before this.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["capture", "index"], name="capture_item_once")]
        indexes = [models.Index(fields=["capture", "status"])]

    def __str__(self) -> str:
        return f"item {self.index}: {self.status}"

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") != "system")
