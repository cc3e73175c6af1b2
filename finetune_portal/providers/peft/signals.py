"""A GPU worker says what it has when it starts, so the launch form can warn about memory."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys

logger = logging.getLogger(__name__)

GPU_QUEUE = "gpu"


def worker_report_hardware(sender=None, **kwargs) -> None:
    """celery worker_ready: record this worker's GPUs if it consumes the gpu queue."""
    from finetune_portal.providers.peft.workers import worker_node_report

    app = getattr(sender, "app", None)
    queues = sorted(app.amqp.queues.consume_from) if app is not None else []
    if GPU_QUEUE not in queues:
        return
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    info = hardware_probe()
    if info is None:
        logger.warning(
            "Worker %s consumes the gpu queue but could not inspect its GPUs (is torch installed?).", hostname
        )
        info = {"gpus": [], "torch_version": "", "bf16": False}
    try:
        node = worker_node_report(hostname=hostname, queues=queues, hardware=info)
    except Exception:
        logger.exception("Could not record worker %s", hostname)
        return
    logger.info("GPU worker %s reported: %s", hostname, node)


def hardware_probe(timeout: float = 120) -> dict | None:
    """The GPUs of this machine, asked in a child process so this one never initialises CUDA."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "finetune_portal.providers.peft.probe"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        logger.exception("The hardware probe failed")
        return None
