"""A GPU worker on another host shares nothing but the bucket: data in, checkpoints and adapter out."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from finetune_portal.registry.models import FineTunedModel
from tests.factories import PASSWORD, make_dataset, make_version
from tests.providers.peft.helpers import chat_jsonl, run_queued_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_local_run_reads_its_data_from_the_bucket_and_stores_its_results_there(client, cast, s3_storage):
    dataset = make_dataset(cast.project, name="colours", kind="chat", created_by=cast.member)
    train = make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    valid_rows = chat_jsonl(range(50, 60))
    valid = make_version(dataset, content=valid_rows, example_count=10, split_role="validation")
    assert {train.file.name, valid.file.name} <= set(s3_storage.object_keys())

    job, outcome = run_queued_job(cast, versions=(train, valid))

    assert outcome == "succeeded", job.error_message
    keys = s3_storage.object_keys()
    prefix = f"peft/{cast.project.pk}/job-{job.pk}"
    assert f"{prefix}/final/adapter_model.safetensors" in keys
    assert f"{prefix}/checkpoint-15/adapter_model.safetensors" in keys
    assert not any(key.endswith("optimizer.pt") for key in keys), "optimizer state stays on the worker"

    model = FineTunedModel.objects.get(job=job)
    client.login(username=cast.member.username, password=PASSWORD)
    response = client.get(reverse("registry:download", args=[cast.project.slug, model.pk]))
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as bundle:
        assert any(name.endswith("/adapter_model.safetensors") for name in bundle.namelist())
