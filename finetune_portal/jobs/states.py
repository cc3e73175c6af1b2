"""The fine-tuning job's status machine: one table of legal moves, checked by job_transition()."""

from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    VALIDATING_FILES = "validating_files", "Validating files"
    SUBMITTED = "submitted", "Submitted"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def final(cls) -> frozenset[JobStatus]:
        return frozenset({cls.SUCCEEDED, cls.FAILED, cls.CANCELLED})

    @classmethod
    def active(cls) -> frozenset[JobStatus]:
        """Statuses in which work happens at a provider or a worker."""
        return frozenset({cls.VALIDATING_FILES, cls.SUBMITTED, cls.RUNNING, cls.PAUSED, cls.CANCELLING})

    @property
    def is_final(self) -> bool:
        return self in JobStatus.final()


S = JobStatus

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    S.DRAFT: frozenset({S.QUEUED, S.AWAITING_APPROVAL, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.VALIDATING_FILES, S.FAILED, S.CANCELLED}),
    # validating_files: the portal has claimed the job and is handing files to the provider.
    # It may fall back to queued when a transient error leaves nothing created at the provider.
    S.VALIDATING_FILES: frozenset({S.SUBMITTED, S.RUNNING, S.QUEUED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.RUNNING, S.PAUSED, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.RUNNING: frozenset({S.PAUSED, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    S.PAUSED: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.CANCELLED}),
    # A job can finish at the provider before our cancel reaches it.
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str):
        super().__init__(f"A job cannot go from {current} to {target}.")
        self.current = current
        self.target = target

    def __reduce__(self):
        # Raised inside tasks, so Celery pickles it; the default would call __init__ with the message.
        return (type(self), (self.current, self.target))


def is_allowed(current: str, target: str) -> bool:
    return JobStatus(target) in ALLOWED[JobStatus(current)]
