"""Pushing a trained adapter to a private Hugging Face Hub repo."""

from __future__ import annotations

import pytest

from finetune_portal.jobs.models import JobEvent
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.models import FineTunedModel
from tests.providers.peft.helpers import run_queued_job

pytestmark = pytest.mark.django_db(transaction=True)


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
