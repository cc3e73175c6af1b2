"""The training options teams reach for: early stopping, the best checkpoint, weight decay, checkpoints
kept, 8-bit QLoRA, plain-text data and DPO's own metrics, each from the form to the trainer."""

from __future__ import annotations

import json

import pytest

from finetune_portal.datasets.validation import validate_file
from finetune_portal.datasets.validation.detect import detect_file_kind
from finetune_portal.jobs.models import JobEvent, MetricPoint
from finetune_portal.providers.peft.form_fields import DEFAULTS
from finetune_portal.providers.peft.forms import PeftJobForm
from finetune_portal.providers.peft.prepare import training_spec
from finetune_portal.providers.peft.trainer import TrainingSpec
from finetune_portal.providers.peft.training_config import trainer_config
from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import COLOURS, run_queued_job


def _spec(tmp_path, **settings) -> TrainingSpec:
    return TrainingSpec(
        model_path="unused",
        method="sft",
        train_rows=[{"messages": []}] * 40,
        output_dir=str(tmp_path),
        batch_size=4,
        **settings,
    )


@pytest.mark.django_db
def test_each_option_on_the_form_reaches_the_trainer_config(cast, chat_versions, tmp_path):
    train, valid = chat_versions
    data = {
        **DEFAULTS,
        "base_model": "demo:tiny",
        "method": "sft",
        "training_version": train.pk,
        "validation_version": valid.pk,
        "weight_decay": 0.01,
        "save_total_limit": 5,
        "early_stopping_patience": 2,
        "early_stopping_threshold": 0.05,
        "load_best_model_at_end": True,
        "eval_steps": 5,
        "save_steps": 7,
        "max_steps": 20,
    }
    form = PeftJobForm(data, project=cast.project, user=cast.member)
    assert form.is_valid(), form.errors
    job = form.save()

    spec = training_spec(
        job, model_path="unused", train_rows=[{"messages": []}] * 40, output_dir=str(tmp_path)
    )
    assert (spec.weight_decay, spec.save_total_limit) == (0.01, 5)
    assert (spec.early_stopping_patience, spec.early_stopping_threshold) == (2, 0.05)
    assert spec.load_best_model_at_end is True

    config = trainer_config(spec, cuda=False, bf16=False, has_eval=True)
    assert config.weight_decay == 0.01
    assert config.save_total_limit == 5
    assert config.load_best_model_at_end is True
    assert config.metric_for_best_model == "eval_loss"
    assert config.greater_is_better is False
    # The best checkpoint can only be one saved where the trainer evaluated.
    assert (config.save_strategy, config.save_steps) == ("steps", 5)
    assert (config.eval_strategy, config.eval_steps) == ("steps", 5)


def test_the_defaults_keep_three_checkpoints_and_no_weight_decay(tmp_path):
    config = trainer_config(_spec(tmp_path), cuda=False, bf16=False, has_eval=False)

    assert config.save_total_limit == 3
    assert config.weight_decay == 0.0
    assert config.load_best_model_at_end is False
    assert config.metric_for_best_model is None


def test_zero_checkpoints_to_keep_keeps_them_all(tmp_path):
    config = trainer_config(_spec(tmp_path, save_total_limit=0), cuda=False, bf16=False, has_eval=False)

    assert config.save_total_limit is None


@pytest.mark.django_db
@pytest.mark.parametrize("option", [{"early_stopping_patience": 2}, {"load_best_model_at_end": True}])
def test_early_stopping_and_the_best_checkpoint_need_validation_data(cast, chat_versions, option):
    train, _ = chat_versions
    data = {**DEFAULTS, "base_model": "demo:tiny", "method": "sft", "training_version": train.pk, **option}

    form = PeftJobForm(data, project=cast.project, user=cast.member)

    assert not form.is_valid()
    (name,) = option
    assert form.errors[name] == ["This compares validation losses: choose validation data too."]


@pytest.mark.django_db(transaction=True)
def test_an_early_stopping_run_stops_before_its_max_steps(cast, chat_versions):
    # No evaluation can improve on the best by 10, so the run stops after its patience runs out.
    job, outcome = run_queued_job(
        cast,
        versions=chat_versions,
        hyperparameters={
            "max_steps": 30,
            "eval_steps": 2,
            "save_steps": 2,
            "early_stopping_patience": 1,
            "early_stopping_threshold": 10.0,
        },
    )

    assert outcome == "succeeded", job.error_message
    last_step = MetricPoint.objects.filter(job=job).order_by("-step").values_list("step", flat=True)[0]
    assert last_step < 30
    event = JobEvent.objects.get(job=job, provider_event_id="early-stopped")
    assert f"Stopped early at step {last_step} of 30" in event.message


@pytest.mark.django_db(transaction=True)
def test_the_best_checkpoint_is_kept_as_the_result(cast, chat_versions):
    job, outcome = run_queued_job(
        cast,
        versions=chat_versions,
        hyperparameters={"max_steps": 12, "eval_steps": 4, "save_steps": 0, "load_best_model_at_end": True},
    )

    assert outcome == "succeeded", job.error_message
    event = JobEvent.objects.get(job=job, provider_event_id="best-checkpoint")
    losses = dict(
        MetricPoint.objects.filter(job=job, valid_loss__isnull=False).values_list("step", "valid_loss")
    )
    best_step = min(losses, key=losses.get)
    assert event.data["checkpoint"] == str(best_step)
    assert event.data["valid_loss"] == pytest.approx(losses[best_step])


@pytest.mark.django_db(transaction=True)
def test_an_8bit_qlora_job_trains_on_a_cpu_worker(cast, chat_versions):
    job, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"adapter": "qlora8", "max_steps": 6}
    )

    assert outcome == "succeeded", job.error_message
    start = JobEvent.objects.get(job=job, provider_event_id="train-start")
    assert start.data["base_precision"] == "8-bit (LLM.int8)"


def _text_jsonl(indices) -> bytes:
    lines = [
        json.dumps({"text": f"Item {i} is {COLOURS[i % 10]}. It stays {COLOURS[i % 10]}."}) for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_plain_text_file_is_detected_and_validates(tmp_path):
    path = tmp_path / "text.jsonl"
    path.write_bytes(_text_jsonl(range(5)))

    assert detect_file_kind(str(path)).kind == "text"
    report = validate_file(str(path), kind="text", target="local_peft")
    assert report["valid"] is True, report["errors"]
    assert report["examples"] == 5
    # OpenAI trains no plain text, and says so.
    openai = validate_file(str(path), kind="text", target="openai")
    assert "OpenAI does not train plain text data" in str(openai["errors"])


def test_a_text_line_with_other_keys_or_no_text_is_an_error(tmp_path):
    path = tmp_path / "text.jsonl"
    path.write_text('{"text": "fine"}\n{"text": ""}\n{"text": "x", "label": 1}\n')

    report = validate_file(str(path), kind="text", target="local_peft")

    assert report["valid"] is False
    lines = {error["line"] for error in report["errors"]}
    assert lines == {2, 3}


@pytest.mark.django_db(transaction=True)
def test_a_text_dataset_trains_a_causal_lm_job(cast):
    dataset = make_dataset(cast.project, name="colour notes", kind="text", created_by=cast.member)
    train = make_version(dataset, content=_text_jsonl(range(40)), example_count=40)
    valid = make_version(
        dataset, content=_text_jsonl(range(40, 48)), example_count=8, split_role="validation"
    )

    job, outcome = run_queued_job(cast, versions=(train, valid), hyperparameters={"max_steps": 20})

    assert outcome == "succeeded", job.error_message
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert sum(p.train_loss for p in points[-5:]) < sum(p.train_loss for p in points[:5])


@pytest.mark.django_db(transaction=True)
def test_a_dpo_run_records_its_reward_metrics(cast, dpo_versions):
    job, outcome = run_queued_job(
        cast,
        method="dpo",
        versions=dpo_versions,
        hyperparameters={"max_steps": 6, "batch_size": 4, "eval_steps": 3, "save_steps": 0},
    )

    assert outcome == "succeeded", job.error_message
    points = list(MetricPoint.objects.filter(job=job).order_by("step"))
    assert all(p.dpo_reward_margin is not None for p in points)
    last = points[-1]
    assert last.dpo_reward_margin == pytest.approx(
        last.dpo_reward_chosen - last.dpo_reward_rejected, abs=1e-4
    )
    assert 0 <= last.dpo_reward_accuracy <= 1


@pytest.mark.django_db(transaction=True)
def test_a_once_per_epoch_evaluation_is_stored_with_its_steps_point(cast, chat_versions):
    # 50 examples in batches of 5: 10 steps an epoch; the trainer decides to evaluate only after it has
    # logged the epoch's last step, and the validation loss must still land on that step's point.
    job, outcome = run_queued_job(
        cast, versions=chat_versions, hyperparameters={"max_steps": 0, "epochs": 2, "eval_steps": 0}
    )

    assert outcome == "succeeded", job.error_message
    evaluated = MetricPoint.objects.filter(job=job, valid_loss__isnull=False).values_list("step", flat=True)
    assert sorted(evaluated) == [10, 20]
