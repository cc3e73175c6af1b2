"""The plug-in boundary: what every fine-tuning backend hands the portal, so datasets, jobs, pages and
the comparison treat all providers alike and never spell a provider's key.

A provider is one package with a ``FineTuningProvider`` subclass, listed in ``settings.FINETUNE_PROVIDERS``
(``providers/registry.py`` loads them). This module imports nothing of the portal's apps: the apps import
it, and the provider packages build on both.

The types a provider hands over or raises live beside it: ``errors.py`` (ProviderError and the refusals),
``dataset_profile.py`` (what a provider asks of a dataset) and ``batches.py`` (batched chats). They are
importable from here too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar

from django.utils import timezone
from django.utils.module_loading import import_string

from finetune_portal.providers.batches import (
    BATCH_DONE,
    BATCH_ENDED,
    BATCH_RUNNING,
    BatchRequest,
    BatchResult,
    BatchState,
)
from finetune_portal.providers.chat import ChatEvent, ChatSettings, ServedModel
from finetune_portal.providers.dataset_profile import (
    APPROXIMATE_ENCODING,
    DatasetProfile,
    TokenCounting,
    epochs_when_unset,
)
from finetune_portal.providers.errors import (
    AnswerRefused,
    ModelNotReady,
    ModelShutDown,
    ProviderError,
    ProviderUnavailable,
)

__all__ = [
    "APPROXIMATE_ENCODING",
    "BATCH_DONE",
    "BATCH_ENDED",
    "BATCH_RUNNING",
    "AnswerRefused",
    "BatchRequest",
    "BatchResult",
    "BatchState",
    "Capabilities",
    "DatasetProfile",
    "FineTuningProvider",
    "ModelNotReady",
    "ModelShutDown",
    "ProviderError",
    "ProviderUnavailable",
    "Sunset",
    "TokenCounting",
    "epochs_when_unset",
    "sunset_today",
]


@dataclass(frozen=True)
class Capabilities:
    methods: frozenset[str]
    # A running job can be paused and later resumed at this provider.
    pause: bool = False
    # Runs leave checkpoints the job page lists.
    checkpoints: bool = False
    # The provider answers chats (chat_stream): its fine-tuned models, checkpoints and base models.
    inference: bool = False
    # Many chats can be sent as one batch, answered later at a lower price (batch_submit and friends).
    batch: bool = False


@dataclass(frozen=True)
class Sunset:
    """The day a provider stops serving a model (and every model fine-tuned from it), and why."""

    day: date
    reason: str

    @property
    def days_left(self) -> int:
        """Days until the shutdown day; 0 or less once the model no longer answers."""
        return (self.day - sunset_today()).days

    @property
    def shut_down(self) -> bool:
        return self.days_left <= 0


def sunset_today() -> date:
    """The day shutdowns are counted from (the one place tests pin it)."""
    return timezone.localdate()


class FineTuningProvider(ABC):
    """One installed provider. Subclasses set the class attributes and the enqueue methods; the web
    process imports this module of every provider, so it stays light (no SDKs, no ML stack)."""

    key: ClassVar[str]  # stored on every job; never change it once jobs use it
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities(methods=frozenset())
    # The launch form's import path: a Django form taking (data, project=, user=, initial=) whose save()
    # returns a draft job, with a classmethod initial_from_job(job). Loaded only when a page needs it.
    launch_form: ClassVar[str]
    # The folder of this provider's job-page parts ("<folder>/job_<part>.html"); jobs/views/detail.py
    # names the parts, and a part a provider does not have falls back to the page's neutral wording.
    template_folder: ClassVar[str] = ""
    # What a comparison figure means for this provider: figure -> note (keys in jobs/compare_settings.py).
    metric_notes: ClassVar[dict[str, str]] = {}

    @property
    def dataset_profile(self) -> DatasetProfile:
        return DatasetProfile()

    def launch_form_class(self):
        try:
            return import_string(self.launch_form)
        except ImportError as exc:
            raise ProviderUnavailable(
                f"The {self.key} provider is not installed on this server ({exc})."
            ) from exc

    @abstractmethod
    def enqueue_start(self, job_id: int) -> None:
        """Send a queued job to this provider's worker queue (called after the launch commits)."""

    @abstractmethod
    def enqueue_cancel(self, job_id: int) -> None:
        """Ask this provider's worker to stop a job that is now ``cancelling``."""

    def enqueue_pause(self, job_id: int) -> None:
        """Ask this provider's worker to pause a running job (only where ``capabilities.pause``)."""
        raise ProviderUnavailable("This provider cannot pause a job.")

    def enqueue_resume(self, job_id: int) -> None:
        """Ask this provider's worker to resume a paused job (only where ``capabilities.pause``)."""
        raise ProviderUnavailable("This provider cannot resume a job.")

    # The provider shuts models down on announced days (model_sunset answers for its models); pages about
    # leaving such a provider list the models at stake.
    has_sunsets: ClassVar[bool] = False

    def model_sunset(self, model_id: str) -> Sunset | None:
        """When this provider stops serving ``model_id`` (a base or a fine-tuned model), or None."""
        return None

    def retrain_initial(self, job, *, training_version_id: int | None = None) -> dict | None:
        """This provider's launch-form values that retrain another provider's ``job`` here (the same data,
        its settings mapped), recording that the new job replaces it; None: it cannot take such jobs.
        ``training_version_id`` trains on that version instead: the model's captured answers, as
        distillation data."""
        return None

    def chat_base_models(self, project) -> list[ServedModel]:
        """The base models the project can chat with at this provider (only where
        ``capabilities.inference``)."""
        return []

    def chat_cost_estimate(
        self, model: ServedModel, prompt_tokens: int, completion_tokens: int
    ) -> Decimal | None:
        """What answers of that many tokens would cost with this model at the provider's chat prices;
        None when answers are not billed per token (own GPUs) or the prices are unknown."""
        return None

    # What a batch answer costs against a direct one (where ``capabilities.batch``).
    batch_price_factor: ClassVar[Decimal] = Decimal(1)

    def batch_submit(self, *, project, model: ServedModel, requests: list[BatchRequest], tag: str) -> str:
        """Send the chats as one batch and return the provider's batch id. ``tag`` names the batch for
        this portal: a batch already sent under the same tag (a worker that died before it saved the id)
        is found and returned instead of paying for a second one."""
        raise ProviderUnavailable(f"The {self.label} provider cannot answer chats in batches.")

    def batch_check(self, *, project, model: ServedModel, batch_id: str) -> BatchState:
        """Where the batch stands, with every result once it has ended."""
        raise ProviderUnavailable(f"The {self.label} provider cannot answer chats in batches.")

    def batch_cancel(self, *, project, model: ServedModel, batch_id: str) -> None:
        raise ProviderUnavailable(f"The {self.label} provider cannot answer chats in batches.")

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        """Answer a conversation, streaming: ChatDelta pieces, then one ChatDone.

        ``messages`` are OpenAI chat messages (``{"role", "content"}``) without the settings' system
        prompt: the provider prepends it when set and the conversation has no system message
        (``chat.with_system_prompt``). Refusals are raised as ProviderError subclasses in the provider's
        words (ModelNotReady, ModelShutDown, AnswerRefused, ...). Only called where
        ``capabilities.inference``.
        """
        raise ProviderUnavailable(f"The {self.label} provider cannot answer chats.")
