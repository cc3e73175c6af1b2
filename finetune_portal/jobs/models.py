from __future__ import annotations

from django.conf import settings
from django.db import models

from finetune_portal.core.models import TimeStampedModel
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.registry import provider_choices


class Method(models.TextChoices):
    SFT = "sft", "Supervised (SFT)"
    DPO = "dpo", "Preference (DPO)"
    RFT = "rft", "Reinforcement (RFT)"


class JobQuerySet(models.QuerySet):
    def active(self) -> JobQuerySet:
        """Jobs in which work happens at a provider or a worker (also ``project.jobs.active()``)."""
        return self.filter(status__in=JobStatus.active())


class FineTuningJob(TimeStampedModel):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="jobs")
    name = models.CharField(max_length=120, blank=True)
    # The installed providers (settings.FINETUNE_PROVIDERS); a callable, so a new one needs no migration.
    provider = models.CharField(max_length=16, choices=provider_choices)
    method = models.CharField(max_length=8, choices=Method.choices, default=Method.SFT)
    base_model = models.CharField(max_length=200)
    training_version = models.ForeignKey(
        "datasets.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="training_jobs",
    )
    validation_version = models.ForeignKey(
        "datasets.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="validation_jobs",
    )
    hyperparameters = models.JSONField(default=dict, blank=True)
    suffix = models.CharField(max_length=64, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    credential = models.ForeignKey(
        "credentials.ProviderCredential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    provider_job_id = models.CharField(max_length=128, blank=True)
    provider_status = models.CharField(max_length=64, blank=True, help_text="The provider's own word.")
    provider_data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=24, choices=JobStatus.choices, default=JobStatus.DRAFT)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    error_hint = models.TextField(blank=True)
    trained_tokens = models.BigIntegerField(null=True, blank=True)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    actual_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    imported = models.BooleanField(default=False, help_text="Brought in from a provider account, read-only.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="The worker task that holds the job.")
    # The one-time token of the launch form that created the job: a second submission of that form finds
    # this job instead of creating (and paying for) another.
    launch_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="fine_tuning_jobs"
    )
    # Lineage of a move between providers: the job (at a provider that shuts its models down) whose model
    # this one retrains on the same data.
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in JobStatus]), name="job_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(method__in=[m.value for m in Method]), name="job_method_valid"
            ),
            models.UniqueConstraint(
                fields=["project", "provider", "provider_job_id"],
                condition=~models.Q(provider_job_id=""),
                name="job_unique_provider_job_per_project",
            ),
            models.UniqueConstraint(
                fields=["launch_token"], condition=~models.Q(launch_token=""), name="job_unique_launch_token"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["status", "next_poll_at"]),
            models.Index(fields=["provider", "status"]),
        ]

    def __str__(self) -> str:
        return self.name or f"Job #{self.pk}"

    @property
    def display_name(self) -> str:
        return self.name or f"{self.base_model} · #{self.pk}"

    @property
    def is_final(self) -> bool:
        return JobStatus(self.status).is_final


class JobTransition(models.Model):
    """Every status change, like an audit trail of the machine."""

    job = models.ForeignKey(FineTuningJob, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=24, choices=JobStatus.choices)
    to_status = models.CharField(max_length=24, choices=JobStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.from_status} → {self.to_status}"


class EventLevel(models.TextChoices):
    INFO = "info", "Info"
    WARN = "warn", "Warning"
    ERROR = "error", "Error"


class JobEvent(models.Model):
    job = models.ForeignKey(FineTuningJob, on_delete=models.CASCADE, related_name="events")
    level = models.CharField(max_length=8, choices=EventLevel.choices, default=EventLevel.INFO)
    message = models.TextField()
    provider_event_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "provider_event_id"],
                condition=~models.Q(provider_event_id=""),
                name="event_unique_provider_id_per_job",
            ),
        ]
        indexes = [models.Index(fields=["job", "-created_at"])]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:60]}"


class MetricPoint(models.Model):
    job = models.ForeignKey(FineTuningJob, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    epoch = models.FloatField(null=True, blank=True)
    train_loss = models.FloatField(null=True, blank=True)
    valid_loss = models.FloatField(null=True, blank=True)
    full_valid_loss = models.FloatField(null=True, blank=True)
    train_mean_token_accuracy = models.FloatField(null=True, blank=True)
    valid_mean_token_accuracy = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    grad_norm = models.FloatField(null=True, blank=True)
    dpo_reward_margin = models.FloatField(null=True, blank=True)
    dpo_reward_chosen = models.FloatField(null=True, blank=True)
    dpo_reward_rejected = models.FloatField(null=True, blank=True)
    dpo_reward_accuracy = models.FloatField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "step"]
        constraints = [
            # Also the index behind "points after step N" for the live chart.
            models.UniqueConstraint(fields=["job", "step"], name="metric_unique_step_per_job"),
        ]
        # The runs list's validation figures (newest and lowest per run) are one index probe each, not
        # a walk over every point of the run: validation points are few, and some runs have none.
        indexes = [
            models.Index(
                fields=["job", "step"], condition=models.Q(valid_loss__isnull=False), name="metric_valid_step"
            ),
            models.Index(
                fields=["job", "valid_loss"],
                condition=models.Q(valid_loss__isnull=False),
                name="metric_valid_low",
            ),
            models.Index(
                fields=["job", "step"],
                condition=models.Q(full_valid_loss__isnull=False),
                name="metric_full_valid_step",
            ),
            models.Index(
                fields=["job", "full_valid_loss"],
                condition=models.Q(full_valid_loss__isnull=False),
                name="metric_full_valid_low",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.step}"


class Checkpoint(models.Model):
    job = models.ForeignKey(FineTuningJob, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    provider_checkpoint_id = models.CharField(max_length=200, blank=True)
    storage_uri = models.CharField(max_length=500, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "step"]
        constraints = [models.UniqueConstraint(fields=["job", "step"], name="checkpoint_unique_step_per_job")]

    def __str__(self) -> str:
        return f"{self.job_id} checkpoint @ {self.step}"
