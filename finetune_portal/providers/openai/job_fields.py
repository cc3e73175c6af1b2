"""Writes to a job's non-status fields from what OpenAI said (status is job_transition's alone)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob


def job_fields_save(job: FineTuningJob, **fields: Any) -> None:
    FineTuningJob.objects.filter(pk=job.pk).update(updated_at=timezone.now(), **fields)
    for name, value in fields.items():
        setattr(job, name, value)


def provider_data_with(job: FineTuningJob, **changes: Any) -> dict[str, Any]:
    """A copy of the job's provider data with ``changes`` applied (the caller saves it)."""
    data = dict(job.provider_data or {})
    data.update(changes)
    return data
