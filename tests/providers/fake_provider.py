"""A provider that lives only in the tests: added through settings, it shows that a new provider needs
no change in datasets/, jobs/, registry/ or their templates."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django import forms

from finetune_portal.jobs.metrics import TRAIN_LOSS
from finetune_portal.jobs.services import job_create
from finetune_portal.providers.base import Capabilities, DatasetProfile, FineTuningProvider, TokenCounting

KEY = "fake_cloud"
PATH = f"{__name__}.FakeProvider"


class FakeDatasetProfile(DatasetProfile):
    kinds = frozenset({"chat"})
    base_model_names = ("fake-small", "fake-large")
    base_model_help = "A Fake Cloud model"

    def too_few_examples(self, examples: int) -> str | None:
        return None if examples >= 3 else f"Fake Cloud wants 3 examples, not {examples}."

    def token_counting(
        self, *, kind: str, base_model: str | None, warn: Callable[[str], None]
    ) -> TokenCounting:
        return TokenCounting(
            "tiktoken", "cl100k_base", token_limit=5, priced_model=base_model or "fake-small"
        )

    def default_epochs(self, example_count: int) -> int:
        return 2

    def price_per_million(self, model: str) -> Decimal | None:
        return Decimal("1000")

    def training_cost(self, model: str, billed_tokens: int) -> Decimal | None:
        return Decimal("1000") * billed_tokens / Decimal(1_000_000)


class FakeProvider(FineTuningProvider):
    key = KEY
    label = "Fake Cloud"
    capabilities = Capabilities(methods=frozenset({"sft"}), pause=True)
    launch_form = f"{__name__}.FakeJobForm"
    metric_notes = {TRAIN_LOSS: "Fake Cloud reports the loss of its last batch."}
    started: list[int] = []

    @property
    def dataset_profile(self) -> FakeDatasetProfile:
        return FakeDatasetProfile()

    def enqueue_start(self, job_id: int) -> None:
        self.started.append(job_id)

    def enqueue_cancel(self, job_id: int) -> None:
        pass


class FakeJobForm(forms.Form):
    base_model = forms.CharField(initial="fake-small")

    def __init__(self, data=None, *, project, user, initial=None):
        super().__init__(data, initial=initial)
        self.project, self.user = project, user

    @classmethod
    def initial_from_job(cls, job) -> dict:
        return {"base_model": job.base_model}

    def save(self):
        return job_create(
            project=self.project,
            created_by=self.user,
            provider=KEY,
            base_model=self.cleaned_data["base_model"],
        )
