"""What the GPU workers report about themselves: their hardware at start, and that they are alive."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from finetune_portal.providers.peft.models import WorkerNode


def worker_node_report(*, hostname: str, queues: list[str], hardware: dict[str, Any]) -> WorkerNode:
    """Record what a GPU worker has; the launch form warns when a job will not fit the largest GPU."""
    now = timezone.now()
    gpus = hardware.get("gpus") or []
    node, _ = WorkerNode.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": sorted(queues),
            "gpu_name": gpus[0]["name"] if gpus else "",
            "gpu_count": len(gpus),
            "gpu_memory_bytes": max((g["memory_bytes"] for g in gpus), default=0),
            "bf16_supported": bool(hardware.get("bf16")),
            "torch_version": str(hardware.get("torch_version", "")),
            "started_at": now,
            "last_seen_at": now,
        },
    )
    return node


def worker_node_seen(*, hostname: str) -> None:
    WorkerNode.objects.filter(hostname=hostname).update(last_seen_at=timezone.now())
