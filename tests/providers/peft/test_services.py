"""Local GPU provider end to end: jobs launched as a user would, trained by a real Celery worker thread."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.services import job_cancel, job_create, job_launch
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft import services
from finetune_portal.providers.peft.models import WorkerNode
from finetune_portal.registry.models import FineTunedModel
from tests.providers.peft.conftest import FAST_SFT

pytestmark = pytest.mark.django_db(transaction=True)


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


def wait_until(predicate, timeout=60.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def storage_folder(uri: str) -> Path:
    return Path(default_storage.path(uri))


def test_sft_job_trains_through_the_gpu_queue_and_records_everything(cast, chat_versions, gpu_worker):
    job = launch(cast, versions=chat_versions)

    gpu_worker.watcher.wait_for(1)
    job.refresh_from_db()

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.claimed_by, "the worker task that trained it is recorded"
    assert list(job.transitions.values_list("to_status", flat=True)) == [
        "queued",
        "validating_files",
        "running",
        "succeeded",
    ]
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert [p.step for p in points] == list(range(1, 31)), "every step is a point"
    assert all(p.train_loss is not None and p.learning_rate == pytest.approx(5e-3) for p in points)
    assert all(p.grad_norm is not None and p.train_mean_token_accuracy is not None for p in points)
    assert {p.step for p in points if p.valid_loss is not None} == {10, 20, 30}
    first, last = points[:5], points[-5:]
    assert sum(p.train_loss for p in last) / 5 < sum(p.train_loss for p in first) / 5 - 0.2
    valid = [p.valid_loss for p in points if p.valid_loss is not None]
    assert valid == sorted(valid, reverse=True), "validation loss goes down"
    assert job.trained_tokens
    assert job.trained_tokens > 1000

    assert list(job.checkpoints.values_list("step", flat=True)) == [15, 30]
    assert JobEvent.objects.filter(job=job, provider_event_id="eval-20").exists()
    assert JobEvent.objects.filter(job=job, provider_event_id="step-30").exists()

    model = FineTunedModel.objects.get(job=job)
    assert model.base_model == "demo:tiny"
    assert model.job.training_version == chat_versions[0]
    assert model.job.training_version.dataset.name == "colours"
    adapter = storage_folder(model.adapter_uri)
    assert (adapter / "adapter_model.safetensors").exists()
    assert (adapter / "chat_template.jinja").exists()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(job.provider_data["base_model_path"])
    tuned = PeftModel.from_pretrained(base, adapter)
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What colour is item 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    output = tuned.generate(ids, max_new_tokens=12, do_sample=False)
    text = tokenizer.decode(output[0][ids.shape[1] :], skip_special_tokens=True)
    assert text.strip(), "the reloaded adapter generates text"

    node = WorkerNode.objects.get(hostname="gpu-test@localhost")
    assert "gpu" in node.queues
    assert node.gpu_count == 0
    assert node.gpu_name == ""


def test_dpo_job_trains_on_preference_pairs(cast, dpo_versions, gpu_worker):
    job = launch(
        cast,
        method="dpo",
        versions=dpo_versions,
        hyperparameters={"max_steps": 10, "batch_size": 4, "eval_steps": 5, "save_steps": 0, "dpo_beta": 0.1},
    )

    gpu_worker.watcher.wait_for(1)
    job.refresh_from_db()

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert [p.step for p in points] == list(range(1, 11))
    assert points[-1].train_loss < points[0].train_loss
    assert {p.step for p in points if p.valid_loss is not None} == {5, 10}
    assert points[-1].extra["rewards/accuracies"] > 0.5
    assert FineTunedModel.objects.filter(job=job, base_model="demo:tiny").exists()


def test_cancel_stops_training_at_the_next_step_and_keeps_the_weights(cast, chat_versions, gpu_worker):
    job = launch(cast, versions=chat_versions, hyperparameters={"max_steps": 5000, "save_steps": 0})
    wait_until(lambda: MetricPoint.objects.filter(job=job).count() >= 3)

    job.refresh_from_db()
    job_cancel(job=job, actor=cast.member)
    gpu_worker.watcher.wait_for(2)  # the training task and the cancel task
    job.refresh_from_db()

    assert job.status == JobStatus.CANCELLED
    steps = MetricPoint.objects.filter(job=job).count()
    assert 3 <= steps < 5000
    checkpoint = job.checkpoints.get()
    assert checkpoint.step >= steps
    assert (storage_folder(checkpoint.storage_uri) / "adapter_model.safetensors").exists()
    assert not FineTunedModel.objects.filter(job=job).exists()


def test_a_redelivered_task_does_not_train_a_job_another_worker_holds(cast, chat_versions, gpu_worker):
    from finetune_portal.providers.peft.tasks import job_train_task

    train, _valid = chat_versions
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        base_model="demo:tiny",
        training_version=train,
        hyperparameters=FAST_SFT,
    )
    job_launch(job=job, actor=cast.member)
    gpu_worker.watcher.wait_for(1)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    points_before = MetricPoint.objects.filter(job=job).count()
    transitions_before = job.transitions.count()

    # The broker hands the same task out again (Redis visibility timeout, a lost ack).
    job_train_task.delay(job.pk)
    finished = gpu_worker.watcher.wait_for(2)

    assert finished[-1][1] == "skipped"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert MetricPoint.objects.filter(job=job).count() == points_before
    assert job.transitions.count() == transitions_before


def test_a_delivery_while_another_worker_trains_leaves_the_job_alone(cast, chat_versions, gpu_worker):
    from finetune_portal.providers.peft.tasks import job_train_task

    train, _ = chat_versions
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        base_model="demo:tiny",
        training_version=train,
        hyperparameters=FAST_SFT,
    )
    job_launch(job=job, actor=cast.member)
    gpu_worker.watcher.wait_for(1)  # trains it once
    FineTuningJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, claimed_by="other-gpu:task-1", heartbeat_at=timezone.now()
    )

    job_train_task.delay(job.pk)
    gpu_worker.watcher.wait_for(2)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.claimed_by == "other-gpu:task-1"


def test_the_reaper_fails_a_job_whose_worker_went_silent(cast, chat_versions):
    from finetune_portal.celery import app

    train, _ = chat_versions
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        base_model="demo:tiny",
        training_version=train,
    )
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert services.job_claim(job=job, claimant="gpu-7:abc")
    services.job_transition(job=job, to=JobStatus.RUNNING)
    # The worker dies: no more heartbeats. Eleven minutes later the reaper runs.
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    from finetune_portal.providers.peft.tasks import jobs_reap_task

    reaped = jobs_reap_task.apply().get()

    assert reaped == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "gpu-7:abc" in job.error_message
    assert "stopped sending heartbeats" in job.error_message
    assert job.error_hint.startswith("Launch the job again")
    entry = app.conf.beat_schedule["peft-reap-stalled-jobs"]
    assert entry["task"] == "finetune_portal.providers.peft.tasks.jobs_reap_task"
    assert entry["options"]["queue"] == "default"


def test_the_reaper_leaves_a_beating_job_alone(cast, chat_versions):
    train, _ = chat_versions
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        base_model="demo:tiny",
        training_version=train,
    )
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    services.job_claim(job=job, claimant="gpu-7:abc")

    assert services.jobs_reap_stalled() == []
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES
