"""The portal side of the local GPU provider: hands job ids to the GPU workers' queue."""

from __future__ import annotations

from finetune_portal.providers.base import FineTuningProvider


class PeftProvider(FineTuningProvider):
    key = "local_peft"

    def enqueue_start(self, job_id: int) -> None:
        from finetune_portal.providers.peft.tasks import job_train_task

        job_train_task.delay(job_id)

    def enqueue_cancel(self, job_id: int) -> None:
        # The training loop itself sees "cancelling" at its next step; this only settles a job whose
        # worker is gone, so it goes to the default queue rather than behind a busy GPU.
        from finetune_portal.providers.peft.tasks import CONTROL_QUEUE, job_cancel_task

        job_cancel_task.apply_async((job_id,), queue=CONTROL_QUEUE)
