"""The local GPU launch form: what it offers, what it stores, and its memory warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft.form_fields import DEFAULTS
from finetune_portal.providers.peft.forms import PeftJobForm
from finetune_portal.providers.peft.models import WorkerNode
from tests.factories import PASSWORD, make_dataset, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def versions(cast):
    chat = make_dataset(cast.project, name="support chats", kind="chat")
    prefs = make_dataset(cast.project, name="support prefs", kind="dpo")
    alpaca = make_dataset(cast.project, name="instructions", kind="alpaca")
    other = make_dataset(cast.other_project, name="not ours", kind="chat")
    return {
        "chat": make_version(chat, example_count=120),
        "chat_invalid": make_version(chat, status="invalid"),
        "chat_validation": make_version(chat, split_role="validation", example_count=20),
        "dpo": make_version(prefs),
        "alpaca": make_version(alpaca),
        "other_project": make_version(other),
    }


def gpu_worker(name="NVIDIA L4", gib=24, hostname="gpu-1"):
    now = timezone.now()
    return WorkerNode.objects.create(
        hostname=hostname,
        queues=["gpu"],
        gpu_name=name,
        gpu_count=1,
        gpu_memory_bytes=gib * 1024**3,
        bf16_supported=True,
        started_at=now,
        last_seen_at=now,
    )


def test_sft_offers_only_valid_versions_of_kinds_it_trains_on(cast, versions):
    form = PeftJobForm(None, project=cast.project, user=cast.member)

    offered = set(form.fields["training_version"].queryset)

    assert offered == {versions["chat"], versions["chat_validation"], versions["alpaca"]}


def test_dpo_offers_only_preference_versions(cast, versions):
    form = PeftJobForm(None, initial={"method": "dpo"}, project=cast.project, user=cast.member)

    assert set(form.fields["training_version"].queryset) == {versions["dpo"]}


def test_a_version_that_does_not_fit_the_method_is_refused(cast, versions):
    data = {**DEFAULTS, "base_model": "demo:tiny", "method": "dpo", "training_version": versions["chat"].pk}

    form = PeftJobForm(data, project=cast.project, user=cast.member)

    assert not form.is_valid()
    assert "training_version" in form.errors


def test_save_stores_a_draft_local_job_with_every_setting(cast, versions):
    data = {
        **DEFAULTS,
        "name": "colours v1",
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "method": "sft",
        "training_version": versions["chat"].pk,
        "validation_version": versions["chat_validation"].pk,
        "learning_rate": "0.0005",
        "packing": "on",
        "assistant_only_loss": "",
        "hub_repo_id": "acme/colours-lora",
    }
    form = PeftJobForm(data, project=cast.project, user=cast.member)

    assert form.is_valid(), form.errors
    job = form.save()

    assert job.status == JobStatus.DRAFT
    assert job.provider == "local_peft"
    assert job.created_by == cast.member
    assert job.base_model == "Qwen/Qwen2.5-0.5B-Instruct"
    assert job.validation_version == versions["chat_validation"]
    assert job.seed == 42
    assert job.hyperparameters["learning_rate"] == 0.0005
    assert job.hyperparameters["packing"] is True
    assert job.hyperparameters["assistant_only_loss"] is False
    assert job.hyperparameters["lora_rank"] == 16
    assert job.hyperparameters["target_modules"] == "all-linear"
    assert job.hyperparameters["hub_repo_id"] == "acme/colours-lora"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_model", "not a model id!", "neither a Hugging Face model id"),
        ("base_model", "local:relative/path", "absolute path"),
        ("hub_repo_id", "just-a-name", "owner/name"),
    ],
)
def test_it_explains_bad_names(cast, versions, field, value, message):
    data = {**DEFAULTS, "base_model": "demo:tiny", "method": "sft", "training_version": versions["chat"].pk}
    data[field] = value

    form = PeftJobForm(data, project=cast.project, user=cast.member)

    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_the_estimate_warns_when_the_job_will_not_fit_the_largest_worker_gpu(cast):
    gpu_worker("NVIDIA L4", 24)
    gpu_worker("NVIDIA RTX 4090", 24, hostname="gpu-2")
    form = PeftJobForm(
        None,
        initial={"base_model": "meta-llama/Llama-3.1-8B-Instruct", "adapter": "full"},
        project=cast.project,
        user=cast.member,
    )

    memory = form.memory_estimate()

    assert memory["too_big"] is True
    assert memory["total_gib"] > 100
    assert memory["largest"].gpu_name in {"NVIDIA L4", "NVIDIA RTX 4090"}
    assert "This will not fit" in form.render()


def test_lora_on_a_small_model_fits(cast):
    gpu_worker("NVIDIA L4", 24)
    form = PeftJobForm(
        None,
        initial={"base_model": "Qwen/Qwen2.5-0.5B-Instruct", "adapter": "lora"},
        project=cast.project,
        user=None,
    )

    memory = form.memory_estimate()

    assert memory["fits"] is True
    assert memory["total_gib"] < 24
    assert "It fits." in form.render()


def test_without_gpu_workers_the_form_says_so(cast):
    html = PeftJobForm(None, project=cast.project, user=cast.member).render()

    assert "No GPU worker has reported yet" in html
    assert 'value="demo:tiny"' in html


def test_the_refresh_view_refilters_versions_for_the_chosen_method(client, cast, versions):
    client.login(username=cast.member.username, password=PASSWORD)

    response = client.post(
        reverse("peft_provider:form", args=[cast.project.slug]),
        {
            "method": "dpo",
            "base_model": "demo:tiny",
            "adapter": "lora",
            "batch_size": "4",
            "max_length": "512",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "support prefs v1" in html
    assert "support chats" not in html
    assert "field-error" not in html, "a refresh never shows errors mid-edit"


def test_the_launch_page_shows_this_form_for_the_local_provider(client, cast, versions):
    client.login(username=cast.member.username, password=PASSWORD)

    response = client.get(reverse("jobs:new", args=[cast.project.slug]) + "?provider=local_peft")

    assert response.status_code == 200
    assert 'id="peft-form"' in response.content.decode()


def test_qlora_without_any_gpu_worker_is_warned_about(cast):
    html = PeftJobForm(None, initial={"adapter": "qlora"}, project=cast.project, user=cast.member).render()

    assert "QLoRA needs a CUDA GPU, and no worker has reported one" in html


def test_the_demo_model_opens_with_settings_that_show_learning(cast):
    form = PeftJobForm(project=cast.project, user=cast.member)

    assert form["base_model"].value() == "demo:tiny"
    assert form["learning_rate"].value() == 5e-3
    assert form["gradient_accumulation"].value() == 1


def test_fsdp_across_four_gpus_makes_a_full_8b_fine_tune_fit_where_ddp_does_not(cast, versions):
    gpu_worker("NVIDIA H100 80GB HBM3", 80)
    settings = {"base_model": "meta-llama/Llama-3.1-8B-Instruct", "adapter": "full", "gpus": 4}

    ddp = PeftJobForm(None, initial={**settings, "sharding": "ddp"}, project=cast.project, user=cast.member)
    fsdp = PeftJobForm(None, initial={**settings, "sharding": "fsdp"}, project=cast.project, user=cast.member)

    assert ddp.memory_estimate()["too_big"] is True
    assert fsdp.memory_estimate()["fits"] is True


def test_qlora_with_fsdp_is_refused_with_the_alternatives(cast, versions):
    data = {
        **DEFAULTS,
        "base_model": "demo:tiny",
        "method": "sft",
        "training_version": versions["chat"].pk,
        "adapter": "qlora",
        "gpus": 2,
        "sharding": "fsdp",
    }

    form = PeftJobForm(data, project=cast.project, user=cast.member)

    assert not form.is_valid()
    assert form.errors["sharding"] == ["QLoRA's 4-bit weights are not sharded with FSDP: use DDP, or LoRA."]


def test_a_checkpoint_continues_only_on_its_own_base_model_with_an_adapter(cast, versions):
    from finetune_portal.jobs.services import checkpoint_record
    from tests.factories import make_job

    earlier = make_job(cast.project, provider="local_peft", base_model="demo:tiny", status="succeeded")
    checkpoint = checkpoint_record(job=earlier, step=15, storage_uri="peft/x/checkpoint-15")
    base = {**DEFAULTS, "method": "sft", "training_version": versions["chat"].pk}
    base["start_from_checkpoint"] = checkpoint.pk

    fits = PeftJobForm({**base, "base_model": "demo:tiny"}, project=cast.project, user=cast.member)
    other_base = PeftJobForm(
        {**base, "base_model": "Qwen/Qwen2.5-0.5B"}, project=cast.project, user=cast.member
    )
    full = PeftJobForm(
        {**base, "base_model": "demo:tiny", "adapter": "full"}, project=cast.project, user=cast.member
    )

    assert fits.is_valid(), fits.errors
    assert fits.save().hyperparameters["start_from_checkpoint"] == checkpoint.pk
    assert other_base.errors["start_from_checkpoint"] == [
        "This checkpoint was trained on demo:tiny; use that base model."
    ]
    assert full.errors["start_from_checkpoint"] == ["Only a LoRA or QLoRA run continues a checkpoint."]


def test_a_local_folder_is_accepted_only_in_the_model_folders_or_the_projects_outputs(
    cast, versions, settings, tmp_path
):
    from finetune_portal.providers.peft.local_models import REFUSED

    settings.PEFT_LOCAL_MODEL_DIRS = [str(tmp_path / "models")]
    (tmp_path / "models" / "llama").mkdir(parents=True)
    own_outputs = Path(settings.MEDIA_ROOT) / "peft" / str(cast.project.pk) / "job-3" / "final"
    other_outputs = Path(settings.MEDIA_ROOT) / "peft" / str(cast.other_project.pk) / "job-4" / "final"
    for folder in (own_outputs, other_outputs):
        folder.mkdir(parents=True)

    def error_for(folder) -> str:
        data = {
            **DEFAULTS,
            "method": "sft",
            "training_version": versions["chat"].pk,
            "base_model": f"local:{folder}",
        }
        form = PeftJobForm(data, project=cast.project, user=cast.member)
        form.is_valid()
        return " ".join(form.errors.get("base_model", []))

    assert error_for(tmp_path / "models" / "llama") == ""
    assert error_for(own_outputs) == ""
    # Another project's outputs, an existing folder elsewhere, a missing one, a way out of an allowed
    # folder: one message, which tells none of them apart.
    for refused in (other_outputs, tmp_path, tmp_path / "missing", f"{tmp_path}/models/../../etc", "/etc"):
        assert error_for(refused) == REFUSED
