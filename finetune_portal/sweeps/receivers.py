"""When a run of a sweep ends, the sweep launches its next queued run."""

from __future__ import annotations

from finetune_portal.jobs.states import JobStatus


def next_run_when_one_ends(sender, *, job_id: int, to_status, **kwargs) -> None:
    if not JobStatus(to_status).is_final:
        return
    from finetune_portal.sweeps.models import SweepRun
    from finetune_portal.sweeps.services import sweep_advance

    sweep_id = SweepRun.objects.filter(job_id=job_id).values_list("sweep_id", flat=True).first()
    if sweep_id is not None:
        sweep_advance(sweep_id=sweep_id)
