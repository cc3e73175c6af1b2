"""The OpenAI provider as the portal sees it: hands job ids to the openai queue (the jobs services call
these once their transaction commits)."""

from __future__ import annotations

from finetune_portal.providers.base import FineTuningProvider


class OpenAIProvider(FineTuningProvider):
    key = "openai"
    supports_pause = True

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
