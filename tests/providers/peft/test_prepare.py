"""What a run refuses before training: unknown models, data of the wrong kind, missing checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune_portal.jobs.models import JobEvent, MetricPoint
from finetune_portal.jobs.states import JobStatus
from tests.providers.peft.helpers import run_queued_job

pytestmark = pytest.mark.django_db(transaction=True)


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
        "An SFT job needs a chat dataset or a prompt/completion dataset or an Alpaca dataset or a "
        "plain-text dataset, but the training data is a DPO preference dataset."
    )


def test_chat_data_for_a_dpo_job_fails_with_the_kinds_named(cast, chat_versions):
    job, _ = run_queued_job(cast, versions=chat_versions, method="dpo")

    assert job.status == JobStatus.FAILED
    assert (
        job.error_message
        == "A DPO job needs a DPO preference dataset, but the training data is a chat dataset."
    )


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


def test_a_missing_local_model_folder_names_the_folder(cast, chat_versions, tmp_path, settings):
    settings.PEFT_LOCAL_MODEL_DIRS = [str(tmp_path)]  # inside the configured model folders
    job, _ = run_queued_job(cast, versions=chat_versions, base_model=f"local:{tmp_path}/nothing-here")

    assert job.status == JobStatus.FAILED
    assert f"There is no model folder {tmp_path}/nothing-here on this GPU worker" in job.error_message


@pytest.mark.parametrize(
    "where", ["another project's outputs", "a folder outside", "a missing folder outside"]
)
def test_the_worker_refuses_folders_outside_the_allowed_ones_alike(
    cast, chat_versions, settings, tmp_path, where
):
    from finetune_portal.providers.peft.demo_models import tiny_model_folder
    from finetune_portal.providers.peft.local_models import REFUSED

    settings.PEFT_LOCAL_MODEL_DIRS = [str(tmp_path / "models")]
    other_outputs = Path(settings.MEDIA_ROOT) / "peft" / str(cast.other_project.pk) / "job-1" / "final"
    outside = tiny_model_folder(cache_dir=tmp_path / "elsewhere", texts=["hello there"])
    folder = {
        "another project's outputs": other_outputs,
        "a folder outside": outside,
        "a missing folder outside": tmp_path / "nothing",
    }[where]
    other_outputs.mkdir(parents=True)
    (other_outputs / "config.json").write_text("{}")

    job, _ = run_queued_job(cast, versions=chat_versions, base_model=f"local:{folder}")

    assert job.status == JobStatus.FAILED
    assert job.error_message == REFUSED
