"""Which models a project can chat with, and the names /v1 and the playground know them by."""

from __future__ import annotations

import pytest

from finetune_portal.inference.catalog import (
    served_model_get,
    served_model_of,
    served_model_of_checkpoint,
    served_models,
)
from finetune_portal.jobs.services import checkpoint_record
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.models import ModelStatus
from finetune_portal.registry.services import fine_tuned_model_record
from tests.factories import make_job
from tests.inference import chat_provider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("scripted")]

OPENAI_MODEL = "ft:gpt-4o-mini-2024-07-18:acme:cards:AbC123"
OPENAI_CHECKPOINT = "ft:gpt-4o-mini-2024-07-18:acme:cards:AbC123:ckpt-step-20"
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _openai_model(project, *, name=OPENAI_MODEL):
    job = make_job(project, status=JobStatus.SUCCEEDED, provider_job_id=f"ftjob-{name[-6:]}", suffix="cards")
    return fine_tuned_model_record(job=job, base_model="gpt-4o-mini-2024-07-18", provider_model_id=name)


def _local_model(project, *, provider=chat_provider.KEY, suffix="support", base=SMOL):
    job = make_job(project, status=JobStatus.SUCCEEDED, provider=provider, base_model=base, suffix=suffix)
    return fine_tuned_model_record(
        job=job, base_model=base, adapter_uri=f"file:///adapters/job-{job.pk}/final"
    )


def test_an_openai_fine_tuned_model_and_checkpoint_keep_openais_names(cast):
    model = _openai_model(cast.project)
    checkpoint = checkpoint_record(job=model.job, step=20, provider_checkpoint_id=OPENAI_CHECKPOINT)

    served = served_model_of(model)
    point = served_model_of_checkpoint(checkpoint)

    assert (served.name, served.provider_model, served.kind) == (OPENAI_MODEL, OPENAI_MODEL, "fine_tuned")
    assert (served.provider, served.base_model, served.adapter_uri) == (
        "openai",
        "gpt-4o-mini-2024-07-18",
        "",
    )
    assert (served.fine_tuned_model_id, served.job_id, served.checkpoint_id) == (model.pk, model.job_id, None)
    assert point is not None
    assert (point.name, point.provider_model, point.kind) == (
        OPENAI_CHECKPOINT,
        OPENAI_CHECKPOINT,
        "checkpoint",
    )
    assert (point.checkpoint_id, point.fine_tuned_model_id, point.job_id) == (
        checkpoint.pk,
        model.pk,
        model.job_id,
    )
    assert "step 20" in point.label


def test_a_local_adapter_gets_an_ft_name_of_the_portals_own(cast):
    model = _local_model(cast.project)
    job = model.job
    kept = checkpoint_record(job=job, step=50, storage_uri=f"file:///adapters/job-{job.pk}/checkpoint-50")

    served = served_model_of(model)
    point = served_model_of_checkpoint(kept)

    assert served.name == f"ft:{SMOL}:bank-reviews:support:job-{job.pk}"
    assert (served.provider_model, served.adapter_uri) == (SMOL, model.adapter_uri)
    assert point is not None
    assert point.name == f"ft:{SMOL}:bank-reviews:support:job-{job.pk}:ckpt-step-50"
    assert (point.provider_model, point.adapter_uri) == (SMOL, kept.storage_uri)
    unnamed = _local_model(cast.project, suffix="")
    assert served_model_of(unnamed).name == f"ft:{SMOL}:bank-reviews:local:job-{unnamed.job_id}"


def test_a_stored_checkpoint_is_served_from_its_weights_under_the_portals_name(cast):
    """A local run names its checkpoints "checkpoint-15" like every other run: not a name to serve by."""
    first, second = _local_model(cast.project), _local_model(cast.project)
    for model in (first, second):
        checkpoint_record(
            job=model.job,
            step=15,
            provider_checkpoint_id="checkpoint-15",
            storage_uri=f"file:///adapters/job-{model.job_id}/checkpoint-15",
        )

    names = [m.name for m in served_models(cast.project) if m.kind == "checkpoint"]

    local = f"ft:{SMOL}:bank-reviews:support:job-{{}}:ckpt-step-15"
    assert names == [local.format(second.job_id), local.format(first.job_id)]
    point = served_model_get(cast.project, local.format(first.job_id))
    assert point is not None
    assert (point.provider_model, point.adapter_uri) == (
        SMOL,
        f"file:///adapters/job-{first.job_id}/checkpoint-15",
    )
    assert served_model_get(cast.project, "checkpoint-15") is None


def test_a_checkpoint_kept_nowhere_cannot_be_served(cast):
    model = _local_model(cast.project)
    assert served_model_of_checkpoint(checkpoint_record(job=model.job, step=5)) is None


def test_the_project_lists_its_models_checkpoints_then_base_models(cast):
    older = _openai_model(cast.project)
    # OpenAI names a job's last checkpoint like the model itself: listed once, as the model.
    checkpoint_record(job=older.job, step=30, provider_checkpoint_id=OPENAI_MODEL)
    checkpoint_record(job=older.job, step=20, provider_checkpoint_id=OPENAI_CHECKPOINT)
    newer = _local_model(cast.project)
    checkpoint_record(job=newer.job, step=10, storage_uri="file:///a/10")
    checkpoint_record(job=newer.job, step=40, storage_uri="file:///a/40")
    checkpoint_record(job=newer.job, step=45)  # kept nowhere
    _local_model(cast.project, provider=chat_provider.SILENT_KEY)  # its provider cannot chat
    deleted = _local_model(cast.project)
    deleted.status = ModelStatus.DELETED
    deleted.save()
    _openai_model(cast.other_project, name="ft:gpt-4o-mini-2024-07-18:acme:theirs:Zz9")

    names = [m.name for m in served_models(cast.project)]

    local = f"ft:{SMOL}:bank-reviews:support:job-{newer.job_id}"
    assert names == [
        local,
        f"{local}:ckpt-step-40",
        f"{local}:ckpt-step-10",
        OPENAI_MODEL,
        OPENAI_CHECKPOINT,
        chat_provider.BASE,
    ]
    kinds = [m.kind for m in served_models(cast.project)]
    assert kinds == ["fine_tuned", "checkpoint", "checkpoint", "fine_tuned", "checkpoint", "base"]


def test_a_model_is_found_by_its_name_only_in_its_own_project(cast):
    openai_model = _openai_model(cast.project)
    checkpoint_record(job=openai_model.job, step=20, provider_checkpoint_id=OPENAI_CHECKPOINT)
    local = _local_model(cast.project)
    checkpoint_record(job=local.job, step=40, storage_uri="file:///a/40")
    theirs = _local_model(cast.other_project)

    for served in served_models(cast.project):
        assert served_model_get(cast.project, served.name) == served
    assert served_model_get(cast.project, f" {OPENAI_MODEL} ") == served_model_of(openai_model)
    local_name = served_model_of(local).name
    for stranger in (
        served_model_of(theirs).name,  # another project's model
        local_name.replace("bank-reviews", "other-team"),  # its job id under another project's name
        local_name.replace(SMOL, "gpt2"),  # the right job under a wrong base
        f"{local_name}:ckpt-step-41",  # no such checkpoint
        "ft:gpt-4o-mini-2024-07-18:acme:nobody:x",
        "",
    ):
        assert served_model_get(cast.project, stranger) is None, stranger
    assert served_model_get(cast.other_project, served_model_of(theirs).name) == served_model_of(theirs)


def test_models_of_a_provider_that_cannot_chat_are_not_found_by_name(cast):
    silent = _local_model(cast.project, provider=chat_provider.SILENT_KEY)
    assert served_model_get(cast.project, served_model_of(silent).name) is None
