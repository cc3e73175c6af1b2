from __future__ import annotations

from django.db import models


class WorkerNode(models.Model):
    """A Celery worker that consumes the gpu queue, as it described itself when it started."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list, blank=True)
    gpu_name = models.CharField(max_length=200, blank=True, help_text="Empty when the worker has no GPU.")
    gpu_count = models.PositiveSmallIntegerField(default=0)
    gpu_memory_bytes = models.BigIntegerField(default=0, help_text="Memory of one GPU.")
    bf16_supported = models.BooleanField(default=False)
    torch_version = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.gpu_name or 'CPU'})"

    @property
    def gpu_memory_gib(self) -> float:
        return self.gpu_memory_bytes / 1024**3
