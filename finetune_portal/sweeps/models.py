"""A sweep: one dataset version and provider, many runs over a grid (or a seeded sample) of settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from finetune_portal.jobs.models import FineTuningJob


class Strategy(models.TextChoices):
    GRID = "grid", "Grid: every combination"
    RANDOM = "random", "Random sample of the grid (seeded)"


class Sweep(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="sweeps")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    name = models.CharField(max_length=80)
    provider = models.CharField(max_length=40)
    strategy = models.CharField(max_length=10, choices=Strategy.choices, default=Strategy.GRID)
    seed = models.PositiveIntegerField(null=True, blank=True)
    # Setting name -> the values tried, as the sweep form read them.
    space = models.JSONField(default=dict)
    max_runs = models.PositiveIntegerField()
    max_concurrent = models.PositiveIntegerField()
    cost_cap = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class SweepRun(models.Model):
    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="runs")
    job = models.OneToOneField(FineTuningJob, on_delete=models.CASCADE, related_name="sweep_run")
    index = models.PositiveIntegerField()
    # The swept settings of this run (the rest are the launch form's defaults).
    params = models.JSONField(default=dict)

    class Meta:
        ordering = ["sweep", "index"]
        constraints = [models.UniqueConstraint(fields=["sweep", "index"], name="sweep_run_unique_index")]

    def __str__(self) -> str:
        return f"{self.sweep_id}#{self.index}"
