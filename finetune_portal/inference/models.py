"""One row per answer a model gave through the portal: the playground's figures and the spend ledger."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class ChatAnswer(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="chat_answers")
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who asked: "playground", "api", "probe", or another short word a caller picks.
    source = models.CharField(max_length=16)
    model_name = models.CharField(max_length=300, help_text="The served model's name (ft:..., a base id).")
    provider = models.CharField(max_length=16)
    fine_tuned_model = models.ForeignKey(
        "registry.FineTunedModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_answers",
    )
    checkpoint = models.ForeignKey(
        "jobs.Checkpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="chat_answers"
    )
    messages = models.JSONField(default=list, help_text="The conversation sent, without the system prompt.")
    settings = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Request to last piece.")
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to the first piece of text.")
    tokens_per_second = models.FloatField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    error = models.TextField(blank=True, help_text="The provider's words when the answer failed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} @ {self.created_at:%Y-%m-%d %H:%M}"
