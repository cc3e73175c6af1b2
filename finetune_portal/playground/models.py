"""Saved prompts ("probes"), their runs against a model, and the record that makes "Add to dataset"
happen once per click.

The playground's conversation itself lives in the page and is sent with each request; the server keeps
only what the inference app records (one ChatAnswer per answer) and what is listed here.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models


class Probe(models.Model):
    """A conversation up to its last user turn, kept to ask every new model the same thing."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="probes")
    name = models.CharField(max_length=120)
    messages = models.JSONField(help_text="OpenAI chat messages, ending with the user's turn.")
    settings = models.JSONField(default=dict, blank=True, help_text="The chat settings it was saved with.")
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="probe_unique_name_per_project")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages or []):
            if message.get("role") == "user":
                return str(message.get("content", ""))
        return ""


class ProbeRun(models.Model):
    """All of a project's probes asked of one model, in one click."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="probe_runs")
    model_name = models.CharField(max_length=300)
    model_label = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "model_name", "created_at"])]

    def __str__(self) -> str:
        return f"probes on {self.model_name}"


class ProbeAnswerStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Answering"
    DONE = "done", "Answered"
    FAILED = "failed", "Failed"
    LIMITED = "limited", "Rate limited"


class ProbeAnswer(models.Model):
    """One probe of a run: at most one ChatAnswer, however often its task is delivered."""

    run = models.ForeignKey(ProbeRun, on_delete=models.CASCADE, related_name="answers")
    probe = models.ForeignKey(Probe, on_delete=models.CASCADE, related_name="answers")
    status = models.CharField(
        max_length=16, choices=ProbeAnswerStatus.choices, default=ProbeAnswerStatus.PENDING
    )
    answer = models.OneToOneField(
        "inference.ChatAnswer", null=True, blank=True, on_delete=models.SET_NULL, related_name="probe_answer"
    )
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["probe__name", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "probe"], name="probe_answer_once_per_run")]

    def __str__(self) -> str:
        return f"{self.probe} on {self.run.model_name}: {self.status}"

    @property
    def is_settled(self) -> bool:
        return self.status in (ProbeAnswerStatus.DONE, ProbeAnswerStatus.FAILED, ProbeAnswerStatus.LIMITED)


class DatasetAddition(models.Model):
    """An answer appended to a dataset as a new version. The key the page sends with the click makes a
    second submit of the same click return the first one's version instead of making another."""

    key = models.UUIDField(unique=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    answer = models.ForeignKey("inference.ChatAnswer", null=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"answer {self.answer_id} -> version {self.version_id}"
