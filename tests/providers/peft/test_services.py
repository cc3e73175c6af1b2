"""Local GPU provider end to end: jobs launched as a user would, trained by a real Celery worker thread."""

from __future__ import annotations

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
from tests.celery_support import DEAD_BROKER, broker_for_test, wait_for
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
    assert points[-1].extra["rewards/accuracies"] > 0.5
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


def test_the_reaper_fails_a_job_whose_worker_went_silent(cast, chat_versions):
    from finetune_portal.celery import app

    train, _ = chat_versions
    job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    assert services.job_claim(job=job, claimant="gpu-7:abc")
    services.job_transition(job=job, to=JobStatus.RUNNING)
    # The worker dies: no more heartbeats. Eleven minutes later the reaper runs.
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))

    from finetune_portal.providers.peft.tasks import jobs_reap_task

    reaped = jobs_reap_task.apply().get()

    assert reaped == {"failed": [job.pk], "resent": []}
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
    job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    services.job_claim(job=job, claimant="gpu-7:abc")

    assert services.jobs_reap_stalled() == []
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES


def test_a_launch_while_the_broker_is_down_is_kept_and_trained_once_the_reaper_sends_it(
    cast, chat_versions, gpu_worker
):
    from finetune_portal.celery import app
    from finetune_portal.providers.peft.tasks import jobs_reap_task

    with broker_for_test(app, DEAD_BROKER):
        job = launch(cast, versions=chat_versions)

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    warning = job.events.get(level="warn")
    assert "could not be handed to the workers" in warning.message
    # Freshly launched: the reaper gives the broker time before calling the start lost.
    assert jobs_reap_task.apply().get()["resent"] == []

    FineTuningJob.objects.filter(pk=job.pk).update(status_changed_at=timezone.now() - timedelta(minutes=6))
    assert jobs_reap_task.apply().get()["resent"] == [job.pk]
    wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).is_final, timeout=120)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.provider_data["start_resends"] == 1
    assert job.events.filter(provider_event_id="start-resent-1").exists()
    # Sent again once only: the next pass finds nothing queued.
    assert jobs_reap_task.apply().get()["resent"] == []
    assert list(job.transitions.values_list("to_status", flat=True)) == [
        "queued",
        "validating_files",
        "running",
        "succeeded",
    ]


def test_a_job_waiting_behind_a_long_training_is_not_sent_again(cast, chat_versions):
    train, _ = chat_versions
    waiting = queued_local_job(cast, base_model="demo:tiny", training_version=train)
    FineTuningJob.objects.filter(pk=waiting.pk).update(status_changed_at=timezone.now() - timedelta(hours=5))

    # Its message is still in the gpu queue, behind the job a worker is training.
    assert services.jobs_resend_lost_starts(waiting=1) == []
    # The broker could not be asked: nothing is sent on a guess.
    assert services.jobs_resend_lost_starts(waiting=None) == []
    waiting.refresh_from_db()
    assert "start_resends" not in waiting.provider_data


def test_only_as_many_starts_as_the_queue_lacks_are_sent_the_longest_waiting_first(cast, chat_versions):
    train, _ = chat_versions
    now = timezone.now()
    jobs = []
    for minutes_ago in (30, 60, 45, 2):
        job = queued_local_job(cast, base_model="demo:tiny", training_version=train)
        FineTuningJob.objects.filter(pk=job.pk).update(status_changed_at=now - timedelta(minutes=minutes_ago))
        jobs.append(job)
    thirty, sixty, forty_five, _fresh = jobs

    # Four queued, two messages waiting: two starts are missing.
    assert services.jobs_resend_lost_starts(waiting=2, now=now) == [sixty.pk, forty_five.pk]
    # A minute later even fewer wait. Jobs just sent again, and the fresh launch (its own message may
    # still be on its way), are left for a later pass.
    assert services.jobs_resend_lost_starts(waiting=0, now=now + timedelta(minutes=1)) == [thirty.pk]
    resent = FineTuningJob.objects.filter(provider_data__has_key="start_resends")
    assert set(resent.values_list("pk", flat=True)) == {sixty.pk, forty_five.pk, thirty.pk}


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


def test_a_finished_job_is_pushed_to_a_private_hub_repo_with_a_model_card(cast, chat_versions, fake_hub):
    from finetune_portal.credentials.services import credential_create

    credential_create(
        kind="huggingface",
        secret="hf_project_secret_1234",
        label="HF",
        actor=cast.admin,
        project=cast.project,
    )

    job, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"hub_repo_id": "acme/colours"}
    )

    assert outcome == "succeeded"
    assert job.status == JobStatus.SUCCEEDED
    repo = fake_hub.repos["acme/colours"]
    assert repo.private is True
    assert "hf_project_secret_1234" in fake_hub.tokens_seen
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "README.md"} <= set(
        repo.files
    )
    card = repo.files["README.md"].decode()
    assert "A LoRA adapter for `demo:tiny`, trained with SFT (TRL)." in card
    assert "| Dataset | colours |" in card
    assert chat_versions[0].sha256 in card
    assert "| Examples | 50 |" in card
    assert "| lora_rank | 8 |" in card
    assert "| Steps | 30 |" in card
    assert "Final validation loss" in card
    assert "base_model:" not in card, "a locally built model is not claimed to be a Hub model"
    assert FineTunedModel.objects.get(job=job).hf_repo_id == "acme/colours"


def test_a_failed_push_keeps_the_trained_model_and_says_why(cast, chat_versions, fake_hub):
    from tests.providers.peft.fake_hub import FakeRepo

    fake_hub.repos["acme/public"] = FakeRepo(private=False)

    job, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"hub_repo_id": "acme/public"}
    )

    assert outcome == "succeeded"
    model = FineTunedModel.objects.get(job=job)
    assert model.hf_repo_id == ""
    event = JobEvent.objects.get(job=job, provider_event_id="hub-push")
    assert event.level == "warn"
    assert "is public" in event.message


def test_an_unknown_model_id_fails_the_job_with_a_plain_message(cast, chat_versions, fake_hub):
    job, outcome = run_queued_job(cast, versions=chat_versions, base_model="nobody/no-such-model")

    assert outcome == "failed"
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("There is no model 'nobody/no-such-model' on the Hugging Face Hub")
    assert "spelling" in job.error_hint
    assert not MetricPoint.objects.filter(job=job).exists()


def test_a_gated_model_without_a_token_fails_asking_for_one(cast, chat_versions, fake_hub):
    fake_hub.gated.add("meta-llama/Llama-3.2-1B-Instruct")

    job, _ = run_queued_job(cast, versions=chat_versions, base_model="meta-llama/Llama-3.2-1B-Instruct")

    assert job.status == JobStatus.FAILED
    assert "gated model and this project has no Hugging Face token" in job.error_message


def test_a_hub_model_on_an_offline_worker_without_cache_fails_plainly(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, base_model="Qwen/Qwen2.5-0.5B-Instruct")

    assert job.status == JobStatus.FAILED
    assert "offline" in job.error_message
    assert "not in its model cache" in job.error_message


def test_preference_data_for_an_sft_job_fails_with_the_kinds_named(cast, dpo_versions):
    job, outcome = run_queued_job(cast, versions=dpo_versions, method="sft")

    assert outcome == "failed"
    assert job.error_message == (
        "An SFT job needs a chat dataset or a prompt/completion dataset or an Alpaca dataset, "
        "but the training data is a DPO preference dataset."
    )


def test_chat_data_for_a_dpo_job_fails_with_the_kinds_named(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, method="dpo")

    assert job.status == JobStatus.FAILED
    assert (
        job.error_message
        == "A DPO job needs a DPO preference dataset, but the training data is a chat dataset."
    )


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


def test_a_job_continues_from_another_jobs_checkpoint_where_it_left_off(cast, chat_versions):
    first, _ = run_queued_job(cast, versions=chat_versions)
    assert first.status == JobStatus.SUCCEEDED, first.error_message
    checkpoint = first.checkpoints.get(step=15)
    loss = dict(MetricPoint.objects.filter(job=first).values_list("step", "train_loss"))

    second, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"max_steps": 5, "start_from_checkpoint": checkpoint.pk}
    )

    assert outcome == "succeeded", second.error_message
    resumed = MetricPoint.objects.filter(job=second).order_by("step").first().train_loss
    # The first step of the new run already has the trained adapter's loss, far below a fresh start's.
    assert resumed < loss[1] - 0.3
    assert abs(resumed - loss[16]) < 0.3
    start = JobEvent.objects.get(job=second, provider_event_id="start-adapter")
    assert start.message == f"Continuing from job #{first.pk} at step 15."


def test_a_checkpoint_that_is_gone_fails_the_job_plainly(cast, chat_versions):
    gone = {"start_from_checkpoint": 999}
    job, outcome = run_queued_job(cast, versions=chat_versions, hyperparameters=gone)

    assert outcome == "failed"
    assert job.error_message == "The checkpoint this job continues from is no longer stored."


def test_qlora_on_a_worker_without_cuda_fails_before_loading_anything(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, hyperparameters={"adapter": "qlora"})

    assert job.status == JobStatus.FAILED
    assert job.error_message == "QLoRA (4-bit) needs a CUDA GPU, and this worker has none."
    assert "LoRA" in job.error_hint


def test_a_dataset_file_changed_in_storage_is_refused(cast, chat_versions):
    train, _ = chat_versions
    with default_storage.open(train.file.name, "wb") as handle:
        handle.write(b'{"messages": []}\n')

    job, _ = run_queued_job(cast, versions=chat_versions)

    assert job.status == JobStatus.FAILED
    assert "does not match its checksum" in job.error_message


def test_a_missing_local_model_folder_names_the_folder(cast, chat_versions, tmp_path):
    job, _ = run_queued_job(cast, versions=chat_versions, base_model=f"local:{tmp_path}/nothing-here")

    assert job.status == JobStatus.FAILED
    assert f"There is no model folder {tmp_path}/nothing-here on this GPU worker" in job.error_message


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
    assert services.job_claim(job=job, claimant="gpu-1:t1")
    claimed_at = FineTuningJob.objects.get(pk=job.pk).heartbeat_at

    with services.Heartbeat(job_id=job.pk, claimant="gpu-1:t1", interval=0.1):
        wait_for(lambda: FineTuningJob.objects.get(pk=job.pk).heartbeat_at > claimed_at, timeout=5)

    # Another claimant (a stale task) cannot beat for it.
    assert services.job_heartbeat(job_id=job.pk, claimant="gpu-2:t9") is False
    assert services.job_heartbeat(job_id=job.pk, claimant="gpu-1:t1") is True
