from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from finetune_portal.datasets.versions import dataset_version_validate, dataset_versions_resume_stale


@shared_task(
    name="finetune_portal.datasets.tasks.dataset_version_validate_task",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def dataset_version_validate_task(version_id: int) -> str | None:
    version = dataset_version_validate(version_id=version_id)
    return version.status if version else None


@shared_task(name="finetune_portal.datasets.tasks.dataset_versions_resume_stale_task")
def dataset_versions_resume_stale_task() -> int:
    return len(dataset_versions_resume_stale())
