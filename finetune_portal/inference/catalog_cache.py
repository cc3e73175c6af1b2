"""A short-lived, per-process memory of the catalog's answers, for /v1's chat completions.

Finding a model by name takes up to four queries (a fine-tuned model, a checkpoint, each provider's base
models), which was most of what /v1 added to an answer. An application calls the same model again and
again, so the answer is kept for a few seconds. A change to what the catalog reads (a model, a checkpoint,
a job, a credential) forgets everything this process kept at once; a change made by another process
(a worker, another web process) shows here within ``KEEP_SECONDS``. Only models that were found are
kept, so a model that has just appeared answers at once.
"""

from __future__ import annotations

import threading
import time

from django.db.models.signals import post_delete, post_save

from finetune_portal.providers.chat import ServedModel

KEEP_SECONDS = 5.0

_lock = threading.Lock()
_kept: dict[tuple[int, str], tuple[float, ServedModel]] = {}


def served_model_remembered(project, name: str) -> ServedModel | None:
    """served_model_get's answer, from memory when it is fresh."""
    from finetune_portal.inference.catalog import served_model_get

    key = (project.pk, name.strip())
    now = time.monotonic()
    kept = _kept.get(key)
    if kept is not None and now - kept[0] < KEEP_SECONDS:
        return kept[1]
    found = served_model_get(project, name)
    if found is not None:
        with _lock:
            _kept[key] = (now, found)
    return found


def forget_served_models(**_signal) -> None:
    with _lock:
        _kept.clear()


def connect_signals() -> None:
    """Forget on every change the catalog depends on (called once, by the app's ready())."""
    from finetune_portal.credentials.models import ProviderCredential
    from finetune_portal.jobs.models import Checkpoint, FineTuningJob
    from finetune_portal.registry.models import FineTunedModel

    for model in (FineTunedModel, Checkpoint, FineTuningJob, ProviderCredential):
        uid = f"inference.catalog_cache.{model.__name__}"
        post_save.connect(forget_served_models, sender=model, dispatch_uid=f"{uid}.save")
        post_delete.connect(forget_served_models, sender=model, dispatch_uid=f"{uid}.delete")
