"""A local job trained end to end: launched as a user would, trained by a real Celery worker thread."""

from __future__ import annotations

import pytest
from django.utils import timezone

from finetune_portal.jobs import claims
from finetune_portal.jobs.models import FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.services import job_cancel
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft.models import WorkerNode
from finetune_portal.registry.models import FineTunedModel
from tests.celery_support import wait_for
from tests.providers.peft.helpers import launch, queued_local_job, run_queued_job, storage_folder

pytestmark = pytest.mark.django_db(transaction=True)

# The runs that start two training processes go to one pytest-xdist process, one at a time: accelerate
# binds its default rendezvous port (or searches for a free one when it is taken, which two launches at
# the same moment can both miss), and each run already takes both cores.
TWO_PROCESSES = pytest.mark.xdist_group("two-process-training")


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
    by_step = {p.step: p for p in points}
    for checkpoint in job.checkpoints.all():
        point = by_step[checkpoint.step]
        assert checkpoint.metrics["train_loss"] == pytest.approx(point.train_loss), "figures of its own step"
        accuracy = point.train_mean_token_accuracy
        assert checkpoint.metrics["train_mean_token_accuracy"] == pytest.approx(accuracy)
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
    assert points[-1].dpo_reward_accuracy > 0.5
    assert FineTunedModel.objects.filter(job=job, base_model="demo:tiny").exists()


def test_cancel_stops_training_at_the_next_step_and_keeps_the_weights(cast, chat_versions, gpu_worker):
    job = launch(cast, versions=chat_versions, hyperparameters={"max_steps": 5000, "save_steps": 0})
    wait_for(lambda: MetricPoint.objects.filter(job=job).count() >= 3, timeout=60)

    job.refresh_from_db()
    job_cancel(job=job, actor=cast.member)
    gpu_worker.watcher.wait_for(2)  # the training task and the cancel task
    job.refresh_from_db()

    assert job.status == JobStatus.CANCELLED
    steps = MetricPoint.objects.filter(job=job).count()
    assert 3 <= steps < 5000
    checkpoint = job.checkpoints.order_by("-step").first()
    assert checkpoint.step == MetricPoint.objects.filter(job=job).order_by("-step").first().step
    assert (storage_folder(checkpoint.storage_uri) / "adapter_model.safetensors").exists()
    assert not FineTunedModel.objects.filter(job=job).exists()


def test_a_redelivered_task_does_not_train_a_job_another_worker_holds(cast, chat_versions, gpu_worker):
    from finetune_portal.providers.peft.tasks import job_train_task

    train, _valid = chat_versions
    job = launch(cast, versions=(train, None))
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
    job = launch(cast, versions=(train, None))
    gpu_worker.watcher.wait_for(1)  # trains it once
    FineTuningJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, claimed_by="other-gpu:task-1", heartbeat_at=timezone.now()
    )

    job_train_task.delay(job.pk)
    gpu_worker.watcher.wait_for(2)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert job.claimed_by == "other-gpu:task-1"


def test_a_qlora_job_trains_an_adapter_on_a_4bit_base(cast, chat_versions, settings):
    settings.PEFT_CPU_STANDS_IN_FOR_GPU = True  # bitsandbytes' CPU kernels stand in for a GPU's

    job, outcome = run_queued_job(cast, versions=chat_versions, hyperparameters={"adapter": "qlora"})

    assert outcome == "succeeded", job.error_message
    start = JobEvent.objects.get(job=job, provider_event_id="train-start")
    assert start.data["base_precision"] == "4-bit NF4"
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert len(points) == 30
    assert sum(p.train_loss for p in points[-5:]) < sum(p.train_loss for p in points[:5]) - 0.2
    model = FineTunedModel.objects.get(job=job)
    assert (storage_folder(model.adapter_uri) / "adapter_model.safetensors").exists()


def test_qlora_on_a_worker_without_cuda_fails_before_loading_anything(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, hyperparameters={"adapter": "qlora"})

    assert job.status == JobStatus.FAILED
    assert job.error_message == "QLoRA (4-bit) needs a CUDA GPU, and this worker has none."
    assert "LoRA" in job.error_hint


def test_out_of_memory_names_the_setting_to_lower():
    from finetune_portal.providers.peft.trainer import TrainingSpec, out_of_memory_error

    spec = TrainingSpec(model_path="m", method="sft", train_rows=[], output_dir="o", batch_size=8)
    error = out_of_memory_error(spec)

    assert error.message == "The GPU ran out of memory while training."
    assert "Lower the per-device batch size (now 8)" in error.hint
    single = out_of_memory_error(
        TrainingSpec(
            model_path="m", method="sft", train_rows=[], output_dir="o", batch_size=1, max_length=4096
        )
    )
    assert "Lower the max sequence length (now 4096)" in single.hint


def test_a_multi_gpu_job_on_a_worker_without_enough_gpus_fails_plainly(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, hyperparameters={"gpus": 2})

    assert job.status == JobStatus.FAILED
    assert job.error_message == "The job asks for 2 GPUs but this worker has 0."


@TWO_PROCESSES
def test_a_two_process_job_trains_through_accelerate_and_reports_like_one_process(
    cast, chat_versions, settings
):
    settings.PEFT_CPU_STANDS_IN_FOR_GPU = True  # two CPU processes over gloo stand in for two GPUs

    job, outcome = run_queued_job(cast, versions=chat_versions, hyperparameters={"gpus": 2})

    assert outcome == "succeeded", job.error_message
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert [p.step for p in points] == list(range(1, 31)), "rank 0 reported every step once"
    assert {p.step for p in points if p.valid_loss is not None} == {10, 20, 30}
    assert sum(p.train_loss for p in points[-5:]) < sum(p.train_loss for p in points[:5]) - 1.0
    assert list(job.checkpoints.values_list("step", flat=True)) == [15, 30]
    for checkpoint in job.checkpoints.all():
        assert (storage_folder(checkpoint.storage_uri) / "adapter_model.safetensors").exists()
    start = JobEvent.objects.get(job=job, provider_event_id="train-start")
    assert start.message == "Training started: 30 steps on 2 processes (DDP); base weights in float32."
    model = FineTunedModel.objects.get(job=job)
    assert (storage_folder(model.adapter_uri) / "adapter_model.safetensors").exists()


@TWO_PROCESSES
def test_fsdp_on_cpu_processes_fails_plainly_instead_of_quietly_training_ddp(cast, chat_versions, settings):
    settings.PEFT_CPU_STANDS_IN_FOR_GPU = True

    job, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"gpus": 2, "sharding": "fsdp", "max_steps": 10}
    )

    assert outcome == "failed"
    assert job.error_message == (
        "FSDP shards a model across CUDA GPUs, and these training processes run on the CPU."
    )
    assert job.error_hint.startswith("Choose DDP for CPU processes")
    assert not MetricPoint.objects.filter(job=job).exists()


@TWO_PROCESSES
def test_cancel_stops_every_process_of_a_two_process_job(cast, chat_versions, gpu_worker, settings):
    settings.PEFT_CPU_STANDS_IN_FOR_GPU = True
    job = launch(
        cast, versions=chat_versions, hyperparameters={"gpus": 2, "max_steps": 5000, "save_steps": 0}
    )
    wait_for(lambda: MetricPoint.objects.filter(job=job).count() >= 3, timeout=120)

    job.refresh_from_db()
    job_cancel(job=job, actor=cast.member)
    wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).is_final, timeout=120)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    last_step = MetricPoint.objects.filter(job=job).order_by("-step").first().step
    assert 3 <= last_step < 5000
    checkpoint = job.checkpoints.order_by("-step").first()
    assert checkpoint.step == last_step, "the weights at the step where it stopped are kept"
    assert (storage_folder(checkpoint.storage_uri) / "adapter_model.safetensors").exists()


def test_the_heartbeat_keeps_beating_while_the_worker_holds_the_job(cast, chat_versions):
    train, _ = chat_versions
    job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    assert claims.job_claim(job=job, claimant="gpu-1:t1")
    claimed_at = FineTuningJob.objects.get(pk=job.pk).heartbeat_at

    with claims.Heartbeat(job_id=job.pk, claimant="gpu-1:t1", interval=0.1):
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).heartbeat_at > claimed_at, timeout=5)

    # Another claimant (a stale task) cannot beat for it.
    assert claims.job_heartbeat(job_id=job.pk, claimant="gpu-2:t9") is False
    assert claims.job_heartbeat(job_id=job.pk, claimant="gpu-1:t1") is True


def test_a_run_past_the_time_limit_fails_with_the_time_limit_message(cast, chat_versions, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from finetune_portal.providers.peft import run

    def past_the_limit(job, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(run, "_train_claimed", past_the_limit)
    job, outcome = run_queued_job(cast, versions=chat_versions)

    assert outcome == "failed"
    assert job.status == JobStatus.FAILED
    assert "time limit" in job.error_message
    assert "unexpected error" not in job.error_message


def test_a_running_job_shows_its_total_steps_progress_time_left_and_trained_tokens(
    cast, chat_versions, monkeypatch
):
    from finetune_portal.jobs.selectors.lists import job_progress
    from finetune_portal.providers.peft.reporting import JobReporter

    seen = {}
    record = JobReporter.metrics

    def metrics_and_look(self, point):
        record(self, point)
        if point["step"] == 10 and not seen:
            job = FineTuningJob.objects.get(pk=self.job.pk)
            seen["status"] = job.status
            seen["progress"] = job_progress(job)
            seen["tokens"] = job.trained_tokens

    monkeypatch.setattr(JobReporter, "metrics", metrics_and_look)
    job, _ = run_queued_job(cast, versions=chat_versions, hyperparameters={"max_steps": 30})

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    progress = seen["progress"]
    assert seen["status"] == JobStatus.RUNNING
    assert progress.last_step == 10
    assert progress.total_steps == 30
    assert progress.fraction_done == pytest.approx(1 / 3)
    assert progress.time_left is not None
    assert seen["tokens"]
    assert 0 < seen["tokens"] < job.trained_tokens
