from __future__ import annotations

from types import SimpleNamespace

import pytest

from finetune_portal.providers.peft.models import WorkerNode
from finetune_portal.providers.peft.signals import hardware_probe, worker_report_hardware

pytestmark = pytest.mark.django_db


def consumer(queues):
    """What celery's worker_ready sends: the consumer, with its app's queues and the worker's name."""
    return SimpleNamespace(
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues)))),
        hostname="celery@box",
    )


def test_the_probe_reports_this_machines_torch_and_gpus():
    info = hardware_probe()

    assert info["torch_version"].startswith("2.")
    assert info["gpus"] == [] or all(g["memory_bytes"] > 0 for g in info["gpus"])


def test_a_worker_on_the_gpu_queue_is_recorded():
    worker_report_hardware(sender=consumer(["gpu", "default"]))

    node = WorkerNode.objects.get(hostname="celery@box")
    assert node.queues == ["default", "gpu"]
    assert node.torch_version.startswith("2.")


def test_a_worker_without_the_gpu_queue_is_not():
    worker_report_hardware(sender=consumer(["default", "openai"]))

    assert not WorkerNode.objects.exists()
