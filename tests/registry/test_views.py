"""The models page: each fine-tuned model with its lineage, and a local adapter as a download."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from finetune_portal.jobs.services import metric_points_record
from finetune_portal.registry.models import FineTunedModel
from tests.factories import PASSWORD, make_dataset, make_job, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


@pytest.fixture
def models(cast):
    version = make_version(make_dataset(cast.project, name="colours"), example_count=50)
    openai_job = make_job(
        cast.project, created_by=cast.member, status="succeeded", name="support v1", training_version=version
    )
    metric_points_record(
        job=openai_job,
        points=[{"step": 1, "train_loss": 2.0}, {"step": 2, "train_loss": 1.25, "valid_loss": 1.5}],
    )
    local_job = make_job(
        cast.project,
        created_by=cast.member,
        status="succeeded",
        provider="local_peft",
        name="tiny colours",
        training_version=version,
    )
    for name, content in [("adapter_model.safetensors", b"weights"), ("tokenizer.json", b"{}")]:
        default_storage.save(f"peft/{cast.project.pk}/job-{local_job.pk}/final/{name}", ContentFile(content))
    return {
        "version": version,
        "openai": FineTunedModel.objects.create(
            job=openai_job, provider_model_id="ft:gpt-4o-mini:acme::abc123", base_model="gpt-4o-mini"
        ),
        "local": FineTunedModel.objects.create(
            job=local_job,
            adapter_uri=f"peft/{cast.project.pk}/job-{local_job.pk}/final",
            base_model="demo:tiny",
            hf_repo_id="acme/tiny-colours",
        ),
    }


def test_the_page_lists_each_model_with_its_data_job_and_how_to_use_it(member_client, cast, models):
    page = member_client.get(reverse("registry:list", args=[cast.project.slug])).content.decode()

    assert 'data-copy="ft:gpt-4o-mini:acme::abc123"' in page
    assert reverse("datasets:version", args=[cast.project.slug, models["version"].dataset_id, 1]) in page
    assert reverse("jobs:detail", args=[cast.project.slug, models["openai"].job_id]) in page
    assert "1.2500" in page
    assert "1.5000" in page
    assert reverse("registry:download", args=[cast.project.slug, models["local"].pk]) in page
    assert "https://huggingface.co/acme/tiny-colours" in page
    # The newest model first.
    assert page.index("tiny colours") < page.index("ft:gpt-4o-mini:acme::abc123")


def test_a_project_without_models_says_how_to_get_one(member_client, cast):
    page = member_client.get(reverse("registry:list", args=[cast.project.slug])).content.decode()
    assert "No fine-tuned models yet" in page


def test_a_local_adapter_downloads_as_one_zip(member_client, cast, models):
    response = member_client.get(reverse("registry:download", args=[cast.project.slug, models["local"].pk]))

    assert response.status_code == 200
    name = f"tiny-colours-{models['local'].job_id}-adapter"
    assert f'filename="{name}.zip"' in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as bundle:
        assert sorted(bundle.namelist()) == [f"{name}/adapter_model.safetensors", f"{name}/tokenizer.json"]


def test_a_provider_model_or_missing_files_are_a_404_not_an_empty_zip(member_client, cast, models):
    openai_download = reverse("registry:download", args=[cast.project.slug, models["openai"].pk])
    assert member_client.get(openai_download).status_code == 404

    FineTunedModel.objects.filter(pk=models["local"].pk).update(adapter_uri="peft/gone")
    local_download = reverse("registry:download", args=[cast.project.slug, models["local"].pk])
    assert member_client.get(local_download).status_code == 404


def test_another_projects_models_are_not_shown_or_served(client, cast, models):
    client.login(username=cast.outsider.username, password=PASSWORD)

    assert client.get(reverse("registry:list", args=[cast.project.slug])).status_code == 404
    download = reverse("registry:download", args=[cast.project.slug, models["local"].pk])
    assert client.get(download).status_code == 404


def test_fifty_models_a_page_newest_first(member_client, cast):
    for number in range(51):
        job = make_job(cast.project, created_by=cast.member, status="succeeded", name=f"run {number}")
        FineTunedModel.objects.create(job=job, provider_model_id=f"ft:m:acme::{number}", base_model="m")
    url = reverse("registry:list", args=[cast.project.slug])

    first = member_client.get(url).content.decode()
    second = member_client.get(url, {"page": 2}).content.decode()

    assert first.count("data-model=") == 50
    assert "Page 1 of 2 · 51 models" in first
    assert 'href="?page=2"' in first
    assert second.count("data-model=") == 1
    assert 'data-copy="ft:m:acme::0"' in second
