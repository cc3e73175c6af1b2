"""The local GPU provider as the portal sees it: what it is, what it asks of data, how its job page reads,
and how job ids reach the GPU workers' queue."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

from finetune_portal.jobs.metrics import ACCURACY_CHART, TRAIN_LOSS, VALID_LOSS
from finetune_portal.providers.base import Capabilities, FineTuningProvider
from finetune_portal.providers.chat import ChatEvent, ChatSettings, ServedModel
from finetune_portal.providers.peft.data import KINDS_FOR_METHOD
from finetune_portal.providers.peft.dataset_profile import PeftDatasetProfile

KEY = "local_peft"


class PeftProvider(FineTuningProvider):
    key = KEY
    label = "Local GPU (PEFT)"
    capabilities = Capabilities(methods=frozenset(KINDS_FOR_METHOD), checkpoints=True, inference=True)
    launch_form = "finetune_portal.providers.peft.forms.PeftJobForm"
    template_folder = "providers/peft"
    metric_notes = {
        TRAIN_LOSS: "Mean loss over the steps since the previous log line (the trainer's logging interval), "
        "so it is smoother than a per-step figure.",
        VALID_LOSS: "Loss over the whole evaluation set at each evaluation (every eval interval or epoch, as "
        "configured).",
        ACCURACY_CHART: "Only present when the trainer logs mean token accuracy.",
        "trained_tokens": "Tokens the worker fed through the model, counted by the worker.",
        "cost": "Local GPU time is not billed here; blank unless an estimate was set.",
    }

    def retrain_initial(self, job, *, training_version_id: int | None = None) -> dict | None:
        from finetune_portal.providers.peft.retrain import retrain_initial

        return retrain_initial(job, training_version_id=training_version_id)

    @cached_property
    def dataset_profile(self) -> PeftDatasetProfile:
        return PeftDatasetProfile()

    def enqueue_start(self, job_id: int) -> None:
        from finetune_portal.providers.peft.tasks import job_train_task

        job_train_task.delay(job_id)

    def enqueue_cancel(self, job_id: int) -> None:
        # The training loop itself sees "cancelling" at its next step; this only settles a job whose
        # worker is gone, so it goes to the default queue rather than behind a busy GPU.
        from finetune_portal.providers.peft.tasks import CONTROL_QUEUE, job_cancel_task

        job_cancel_task.apply_async((job_id,), queue=CONTROL_QUEUE)

    def chat_base_models(self, project) -> list[ServedModel]:
        from finetune_portal.providers.peft.chat import chat_base_models

        return chat_base_models(project, provider_key=self.key)

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        # Answered by the model server (embedded or vLLM), which needs no project credential.
        from finetune_portal.providers.peft.chat import chat_stream

        return chat_stream(model=model, messages=messages, settings=settings)
