"""The OpenAI provider as the portal sees it: what it is, what it asks of data, how its job page reads,
and how job ids reach the openai queue (the jobs services call these once their transaction commits)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import cached_property

from finetune_portal.jobs.metrics import ACCURACY_CHART, TRAIN_LOSS, VALID_LOSS
from finetune_portal.providers.base import (
    BatchRequest,
    BatchState,
    Capabilities,
    FineTuningProvider,
    Sunset,
)
from finetune_portal.providers.chat import ChatEvent, ChatSettings, ServedModel
from finetune_portal.providers.openai.dataset_profile import OpenAIDatasetProfile

KEY = "openai"


class OpenAIProvider(FineTuningProvider):
    key = KEY
    label = "OpenAI"
    capabilities = Capabilities(
        methods=frozenset({"sft", "dpo", "rft"}),
        pause=True,
        checkpoints=True,
        inference=True,
        batch=True,
    )
    launch_form = "finetune_portal.providers.openai.forms.OpenAIJobForm"
    template_folder = "providers/openai"
    metric_notes = {
        TRAIN_LOSS: "Loss on the batch of that one step, so it jumps from step to step.",
        VALID_LOSS: "Best and final use the full-validation-set loss computed at the end of each epoch; the "
        "per-step validation loss is measured on a small batch and is only drawn faintly on the job page.",
        ACCURACY_CHART: "Share of tokens predicted exactly, on the step's batch or the validation batch.",
        "trained_tokens": "Billable tokens as OpenAI reports them: training tokens times epochs.",
        "cost": "Billed price for the trained tokens (an estimate until the job ends).",
    }

    has_sunsets = True

    def model_sunset(self, model_id: str) -> Sunset | None:
        from finetune_portal.providers.openai.sunsets import model_sunset

        return model_sunset(model_id)

    @cached_property
    def dataset_profile(self) -> OpenAIDatasetProfile:
        return OpenAIDatasetProfile()

    def enqueue_start(self, job_id: int) -> None:
        from finetune_portal.providers.openai.tasks import job_submit_task

        job_submit_task.delay(job_id)

    def enqueue_cancel(self, job_id: int) -> None:
        from finetune_portal.providers.openai.tasks import job_cancel_task

        job_cancel_task.delay(job_id)

    def enqueue_pause(self, job_id: int) -> None:
        from finetune_portal.providers.openai.tasks import job_pause_task

        job_pause_task.delay(job_id)

    def enqueue_resume(self, job_id: int) -> None:
        from finetune_portal.providers.openai.tasks import job_resume_task

        job_resume_task.delay(job_id)

    # Chats load the SDK only when a chat starts (chat.py), so this module stays light for the web process.
    def chat_base_models(self, project) -> list[ServedModel]:
        from finetune_portal.providers.openai.chat import chat_base_models

        return chat_base_models(project, provider_key=self.key)

    def chat_cost_estimate(
        self, model: ServedModel, prompt_tokens: int, completion_tokens: int
    ) -> Decimal | None:
        from finetune_portal.providers.openai.catalog import chat_cost

        return chat_cost(
            model.provider_model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        from finetune_portal.providers.openai.chat import chat_stream

        return chat_stream(project=project, model=model, messages=messages, settings=settings)

    # The Batch API answers within 24 hours at half the price of direct calls.
    batch_price_factor = Decimal("0.5")

    def batch_submit(self, *, project, model: ServedModel, requests: list[BatchRequest], tag: str) -> str:
        from finetune_portal.providers.openai.batch import batch_submit

        return batch_submit(project=project, model=model, requests=requests, tag=tag)

    def batch_check(self, *, project, model: ServedModel, batch_id: str) -> BatchState:
        from finetune_portal.providers.openai.batch import batch_check

        return batch_check(project=project, model=model, batch_id=batch_id)

    def batch_cancel(self, *, project, model: ServedModel, batch_id: str) -> None:
        from finetune_portal.providers.openai.batch import batch_cancel

        batch_cancel(project=project, model=model, batch_id=batch_id)
