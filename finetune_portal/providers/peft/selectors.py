"""Reads for the local GPU provider's pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.selectors import versions_selectable_for_jobs
from finetune_portal.providers.peft.data import KINDS_FOR_METHOD
from finetune_portal.providers.peft.models import WorkerNode

# A worker not seen for this long is probably gone; its GPU should not make a job look like it fits.
WORKER_FORGOTTEN_AFTER = timedelta(days=7)


def versions_for_method(project, method: str) -> QuerySet[DatasetVersion]:
    """Valid versions of this project whose dataset kind the method trains on."""
    return (
        versions_selectable_for_jobs(project)
        .filter(dataset__kind__in=KINDS_FOR_METHOD.get(method, ()))
        .order_by("dataset__name", "-number")
    )


def gpu_workers_recent() -> QuerySet[WorkerNode]:
    return WorkerNode.objects.filter(last_seen_at__gte=timezone.now() - WORKER_FORGOTTEN_AFTER)


def largest_worker_gpu() -> WorkerNode | None:
    """The recently seen worker with the most memory on one GPU, if any worker has a GPU."""
    return gpu_workers_recent().filter(gpu_count__gt=0).order_by("-gpu_memory_bytes").first()
