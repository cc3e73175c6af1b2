"""The plug-in boundary: what every fine-tuning backend hands the portal, so datasets, jobs, pages and
the comparison treat all providers alike and never spell a provider's key.

A provider is one package with a ``FineTuningProvider`` subclass, listed in ``settings.FINETUNE_PROVIDERS``
(``providers/registry.py`` loads them). This module imports nothing of the portal's apps: the apps import
it, and the provider packages build on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar

from django.utils import timezone
from django.utils.module_loading import import_string

from finetune_portal.providers.chat import ChatEvent, ChatSettings, ServedModel


def _rebuild_exception(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    """Unpickle an exception without calling its ``__init__`` (whose signature pickle cannot know)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ProviderError(Exception):
    """A provider said no. ``permanent`` errors fail the job; others are retried.

    ``message`` is the provider's own words, shown verbatim; ``hint`` is our plain-language reading of it.
    It and its subclasses cross Celery (a task's retry and result carry them), so they pickle with their
    attributes whatever their ``__init__`` takes.
    """

    def __init__(self, message: str, *, permanent: bool, hint: str = "", code: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.hint = hint
        self.code = code

    def __reduce__(self):
        return (_rebuild_exception, (type(self), self.args, dict(self.__dict__)))


class ProviderUnavailable(ProviderError):
    def __init__(self, message: str):
        super().__init__(message, permanent=True)


class ModelNotReady(ProviderError):
    """The model exists but cannot answer yet (OpenAI answers 404 for a few minutes after a job
    succeeds): a moment's wait, not a failure."""

    def __init__(
        self,
        message: str = "Not ready yet: the provider is still deploying this model; try again in a minute.",
        *,
        hint: str = "",
    ):
        super().__init__(message, permanent=False, hint=hint, code="model_not_ready")


class AnswerRefused(ProviderError):
    """The model declined to answer (a refusal or the provider's content filter): a final answer for
    that prompt, not a failure worth retrying."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, permanent=True, hint=hint, code="refusal")


class ModelShutDown(ProviderError):
    """The model is past its shutdown date at the provider and will not answer again."""

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message, permanent=True, hint=hint, code="model_shut_down")


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
class BatchRequest:
    """One chat of a batch; ``key`` comes back with its result."""

    key: str
    messages: list[dict]
    settings: ChatSettings


@dataclass(frozen=True)
class BatchResult:
    """One chat's outcome in a finished batch: its answer, or why there is none."""

    key: str
    output: str = ""
    finish_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None
    error: str = ""
    # "refusal" when the model declined (see AnswerRefused), else the provider's error code, or "".
    code: str = ""


# Where a batch stands at the provider.
BATCH_RUNNING = "running"
BATCH_DONE = "done"  # every request answered or failed; results are final
BATCH_ENDED = "ended"  # expired, cancelled or refused as a whole: results hold what was answered


@dataclass(frozen=True)
class BatchState:
    state: str  # BATCH_RUNNING | BATCH_DONE | BATCH_ENDED
    provider_status: str  # the provider's own word, shown on the page
    completed: int = 0
    failed: int = 0
    total: int = 0
    results: tuple[BatchResult, ...] = ()
    error: str = ""


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


# The tokenizer the portal approximates with when a provider's own one is unknown or unavailable.
APPROXIMATE_ENCODING = "o200k_base"


@dataclass(frozen=True)
class TokenCounting:
    """How a dataset's tokens are counted for one provider and base model."""

    tokenizer: str  # "tiktoken" or "hf" (see datasets/tokenizers.py)
    name: str  # the tiktoken encoding, or the Hugging Face model id or folder
    token_limit: int | None = None  # per example; None: no limit known
    priced_model: str | None = None  # the model the cost estimate prices; None: no estimate


def epochs_when_unset(example_count: int) -> int:
    """The epochs a run gets when none are chosen, as OpenAI's n_epochs=auto picks them (from its
    data-preparation cookbook); the dataset page estimates with it for every provider."""
    target, low, high = 3, 100, 25_000
    if example_count <= 0:
        return target
    if example_count * target < low:
        return min(25, low // example_count)
    if example_count * target > high:
        return max(1, high // example_count)
    return target


class DatasetProfile:
    """What a provider asks of a dataset and what training on it would cost: dataset validation reads
    this instead of knowing any provider. The defaults describe a provider with no rules and no prices."""

    # The dataset kinds the provider trains on (see datasets.models.DatasetKind).
    kinds: frozenset[str] = frozenset()
    # Suggestions for the upload form's base model field, and the one shown as its placeholder.
    base_model_names: tuple[str, ...] = ()
    base_model_placeholder: str = ""
    # How the upload form's base model help names what this provider takes, e.g. "a local model path".
    base_model_help: str = ""
    # The day the prices were copied from the provider; None: no prices.
    prices_taken_on: date | None = None

    def too_few_examples(self, examples: int) -> str | None:
        """The error for a file with too few examples for this provider (at least one it has), or None."""
        return None

    def default_base_model(self, kind: str) -> str | None:
        """The base model a dataset of this kind is priced for when none is chosen, and the one the
        launch form starts from, so both show the same figure; None: the provider has no default."""
        return None

    def token_counting(
        self, *, kind: str, base_model: str | None, warn: Callable[[str], None]
    ) -> TokenCounting:
        """The tokenizer, per-example limit and priced model; ``warn`` notes an approximation."""
        warn(f"No base model chosen: token counts use tiktoken {APPROXIMATE_ENCODING} as an approximation.")
        return TokenCounting("tiktoken", APPROXIMATE_ENCODING)

    def default_epochs(self, example_count: int) -> int:
        return epochs_when_unset(example_count)

    def price_per_million(self, model: str) -> Decimal | None:
        return None

    def training_cost(self, model: str, billed_tokens: int) -> Decimal | None:
        return None


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
