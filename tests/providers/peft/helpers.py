from __future__ import annotations

import json
from pathlib import Path

from django.core.files.storage import default_storage

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_create, job_launch
from finetune_portal.jobs.states import JobStatus

# Enough to see learning on the tiny model in about a second of training.
FAST_SFT = {
    "adapter": "lora",
    "lora_rank": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "target_modules": "all-linear",
    "max_steps": 30,
    "learning_rate": 5e-3,
    "lr_scheduler": "constant",
    "warmup_ratio": 0.0,
    "batch_size": 5,
    "gradient_accumulation": 1,
    "max_length": 128,
    "assistant_only_loss": True,
    "eval_steps": 10,
    "save_steps": 15,
}

COLOURS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange", "pink", "brown"]


def chat_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What colour is item {i}?"},
                    {"role": "assistant", "content": f"Item {i} is {COLOURS[i % 10]}."},
                ]
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()


def dpo_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Colour of item {i}?"}]},
                "preferred_output": [{"role": "assistant", "content": COLOURS[i % 10]}],
                "non_preferred_output": [{"role": "assistant", "content": "I do not know, sorry."}],
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()


def launch(cast, *, method="sft", versions, hyperparameters=None, base_model="demo:tiny", **fields):
    train, valid = versions
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        method=method,
        base_model=base_model,
        training_version=train,
        validation_version=valid,
        hyperparameters={**FAST_SFT, **(hyperparameters or {})},
        seed=7,
        **fields,
    )
    job_launch(job=job, actor=cast.member)
    return job


def storage_folder(uri: str) -> Path:
    return Path(default_storage.path(uri))


def queued_local_job(cast, **fields):
    """A local_peft job of the cast's member, already queued as a launch leaves it."""
    job = job_create(project=cast.project, created_by=cast.member, provider="local_peft", **fields)
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    job.refresh_from_db()
    return job


def run_queued_job(cast, *, versions, method="sft", base_model="demo:tiny", hyperparameters=None):
    """Create a queued job and run the training task in this thread (the task's code, no broker)."""
    from finetune_portal.providers.peft.tasks import job_train_task

    train, valid = versions
    job = queued_local_job(
        cast,
        method=method,
        base_model=base_model,
        training_version=train,
        validation_version=valid,
        hyperparameters={**FAST_SFT, **(hyperparameters or {})},
    )
    outcome = job_train_task.apply(args=(job.pk,)).get()
    job.refresh_from_db()
    return job, outcome
