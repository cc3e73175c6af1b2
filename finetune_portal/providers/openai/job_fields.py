"""Writes to a job's non-status fields from what OpenAI said (status is job_transition's alone)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob

# When to look at OpenAI next is the poller's bookkeeping, not news: writing it leaves ``updated_at`` (and
# so the live page's version token) alone, and the page keeps getting the cheap "unchanged" answer.
SCHEDULING_FIELDS = frozenset({"next_poll_at"})


def job_fields_save(job: FineTuningJob, **fields: Any) -> None:
    """Save the fields that differ from ``job``; ``updated_at`` moves only when one of them is not a
    scheduling field."""
    changed = {name: value for name, value in fields.items() if getattr(job, name) != value}
    if not changed:
        return
    if changed.keys() - SCHEDULING_FIELDS:
        changed["updated_at"] = timezone.now()
    FineTuningJob.objects.filter(pk=job.pk).update(**changed)
    for name, value in changed.items():
        setattr(job, name, value)


def provider_data_with(job: FineTuningJob, **changes: Any) -> dict[str, Any]:
    """A copy of the job's provider data with ``changes`` applied (the caller saves it)."""
    data = dict(job.provider_data or {})
    data.update(changes)
    return data
