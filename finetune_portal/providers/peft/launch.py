"""Training on several GPUs of one worker: the same run, started through accelerate (DDP).

The task's process stays the claimant and keeps beating; it starts ``accelerate launch`` on this module,
whose rank 0 reports to the portal exactly as a single-GPU run does, and reads back the outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from finetune_portal.providers.base import ProviderError


def run_distributed(spec, *, job_id: int, claimant: str, gpus: int):
    from finetune_portal.providers.peft.trainer import TrainingOutcome, hardware

    available = len(hardware()["gpus"])
    if gpus > available:
        raise ProviderError(
            f"The job asks for {gpus} GPUs but this worker has {available}.",
            permanent=True,
            hint="Lower the number of GPUs, or run it on a worker with more.",
            code="not_enough_gpus",
        )
    run_dir = Path(spec.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.json"
    outcome_file = run_dir / "outcome.json"
    spec_file.write_text(json.dumps(asdict(spec)))
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(gpus),
        "-m",
        "finetune_portal.providers.peft.launch",
        str(spec_file),
        str(outcome_file),
        str(job_id),
        claimant,
    ]
    completed = subprocess.run(command, env=os.environ.copy(), check=False)  # noqa: S603
    if not outcome_file.exists():
        raise ProviderError(
            f"The {gpus}-GPU training processes ended without a result (exit status {completed.returncode}).",
            permanent=True,
            hint="See the GPU worker's log; try again with one GPU to get the plain error.",
            code="distributed_failed",
        )
    result = json.loads(outcome_file.read_text())
    if "error" in result:
        raise ProviderError(
            result["error"], permanent=True, hint=result.get("hint", ""), code=result.get("code", "")
        )
    result["final_folder"] = Path(result["final_folder"])
    return TrainingOutcome(**result)


def main(argv: list[str]) -> None:
    spec_file, outcome_file, job_id, claimant = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
    import django

    django.setup()
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.providers.peft import conf
    from finetune_portal.providers.peft.services import Heartbeat, JobReporter
    from finetune_portal.providers.peft.trainer import TrainingSpec, run_training

    spec = TrainingSpec(**json.loads(Path(spec_file).read_text()))
    job = FineTuningJob.objects.get(pk=int(job_id))
    rank = int(os.environ.get("RANK", "0"))
    # The parent process holds the claim and beats from its own thread; rank 0 only reports.
    reporter = JobReporter(
        job=job, heartbeat=Heartbeat(job_id=job.pk, claimant=claimant, interval=conf.heartbeat_seconds())
    )
    try:
        outcome = run_training(spec, reporter)
    except ProviderError as exc:
        if rank == 0:
            Path(outcome_file).write_text(
                json.dumps({"error": exc.message, "hint": exc.hint, "code": exc.code})
            )
        raise SystemExit(1) from exc
    if rank == 0:
        data = asdict(outcome)
        data["final_folder"] = str(outcome.final_folder)
        Path(outcome_file).write_text(json.dumps(data))


if __name__ == "__main__":
    main(sys.argv[1:])
