"""An evaluation run: served models x one dataset version, one output row per (item, model), stored as
it comes so a restarted worker resumes where it stopped."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from finetune_portal.evaluations.metrics import METRICS


class EvaluationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Evaluation(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="evaluations")
    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=16, choices=[(k, m.label) for k, m in METRICS.items()])
    model_names = models.JSONField(
        help_text="Served model names, in the order they are compared (A, B, ...)."
    )
    model_labels = models.JSONField(default=list, blank=True)
    judge_model = models.CharField(max_length=300, blank=True)
    rubric = models.TextField(blank=True)
    json_schema = models.JSONField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(default=128)
    status = models.CharField(
        max_length=16, choices=EvaluationStatus.choices, default=EvaluationStatus.RUNNING
    )
    item_count = models.PositiveIntegerField(default=0)
    cost_estimate_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    cost_cap_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    results = models.JSONField(default=dict, blank=True, help_text="Per model summary and the verdict.")
    error = models.TextField(blank=True)
    job = models.ForeignKey(
        "jobs.FineTuningJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations"
    )
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"])]

    def __str__(self) -> str:
        return f"evaluation {self.pk} ({self.metric})"

    @property
    def metric_info(self):
        return METRICS[self.metric]

    @property
    def is_settled(self) -> bool:
        return self.status != EvaluationStatus.RUNNING


class EvaluationItem(models.Model):
    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField(help_text="The example's place in the version, from 0.")
    messages = models.JSONField(help_text="The conversation each model is asked.")
    reference = models.TextField()

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["evaluation", "index"], name="eval_item_once")]

    def __str__(self) -> str:
        return f"item {self.index}"

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") != "system")


class OutputStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Answering"
    DONE = "done", "Scored"
    FAILED = "failed", "Failed"


class EvaluationOutput(models.Model):
    """One model's answer to one item: at most one ChatAnswer (and one judge answer), however often
    the batch holding it is delivered."""

    evaluation = models.ForeignKey(Evaluation, on_delete=models.CASCADE, related_name="outputs")
    item = models.ForeignKey(EvaluationItem, on_delete=models.CASCADE, related_name="outputs")
    model_name = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=OutputStatus.choices, default=OutputStatus.PENDING)
    answer = models.OneToOneField(
        "inference.ChatAnswer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    judge_answer = models.OneToOneField(
        "inference.ChatAnswer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    output = models.TextField(blank=True)
    score = models.FloatField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="The judge's reason, or why the answer scored as it did.")
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, help_text="The token of the batch holding the row.")

    class Meta:
        ordering = ["item__index", "id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "model_name"], name="eval_output_once_per_model")
        ]
        indexes = [models.Index(fields=["evaluation", "status"])]

    def __str__(self) -> str:
        return f"{self.model_name} on item {self.item_id}: {self.status}"


class EvaluationOnSuccess(models.Model):
    """ "When this job succeeds, evaluate it (and its base) on that version"."""

    job = models.ForeignKey(
        "jobs.FineTuningJob", on_delete=models.CASCADE, related_name="evaluate_on_success"
    )
    version = models.ForeignKey("datasets.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=16, choices=[(k, m.label) for k, m in METRICS.items()])
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evaluation = models.ForeignKey(
        Evaluation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "version", "metric"], name="eval_on_success_once")
        ]

    def __str__(self) -> str:
        return f"evaluate job {self.job_id} on version {self.version_id}"
