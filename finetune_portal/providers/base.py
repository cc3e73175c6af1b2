"""What every fine-tuning backend implements, so jobs, pages and comparison treat them the same."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class ProviderError(Exception):
    """A provider said no. ``permanent`` errors fail the job; others are retried.

    ``message`` is the provider's own words, shown verbatim; ``hint`` is our plain-language reading of it.
    """

    def __init__(self, message: str, *, permanent: bool, hint: str = "", code: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.hint = hint
        self.code = code


class ProviderUnavailable(ProviderError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class FineTuningProvider(ABC):
    key: ClassVar[str]
    # Whether a running job can be paused and later resumed at this provider.
    supports_pause: ClassVar[bool] = False

    @abstractmethod
    def enqueue_start(self, job_id: int) -> None:
        """Send a queued job to this provider's worker queue (called after the launch commits)."""

    @abstractmethod
    def enqueue_cancel(self, job_id: int) -> None:
        """Ask this provider's worker to stop a job that is now ``cancelling``."""

    def enqueue_pause(self, job_id: int) -> None:
        """Ask this provider's worker to pause a running job (only where ``supports_pause``)."""
        raise ProviderUnavailable("This provider cannot pause a job.")

    def enqueue_resume(self, job_id: int) -> None:
        """Ask this provider's worker to resume a paused job (only where ``supports_pause``)."""
        raise ProviderUnavailable("This provider cannot resume a job.")
