"""OpenAI's fine-tuning guide, run unchanged against the portal with only base_url and the key changed:
upload a file, create a job on demo:tiny, follow it with retrieve and list_events until it succeeds (a real
Celery worker trains it), then chat with the fine-tuned model (answered by the embedded model server)."""

from __future__ import annotations

import time

import openai
import pytest

from finetune_portal.api.services import api_token_create
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.peft.serving import client as engine_client
from finetune_portal.providers.peft.serving.engine import Engine
from tests.providers.peft.helpers import chat_jsonl
from tests.providers.peft.serving_support import running_server

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDERS = [
    "finetune_portal.providers.peft.provider.PeftProvider",
    "finetune_portal.providers.openai.provider.OpenAIProvider",
]


@pytest.fixture
def portal(settings, cast, live_server, model_cache):
    """The SDK as the guide makes it, pointed at the portal, with the model server answering chats."""
    settings.FINETUNE_PROVIDERS = PROVIDERS
    engine_client._loaded.clear()
    _, raw = api_token_create(user=cast.member, project=cast.project, name="guide", actor=cast.member)
    with running_server(Engine(cache_dir=model_cache)) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url
        yield openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw, max_retries=0, timeout=60)
    engine_client._loaded.clear()


def test_the_guides_script_trains_on_own_gpus_and_the_model_answers(portal, gpu_worker, cast, tmp_path):
    client = portal
    training = tmp_path / "train.jsonl"
    training.write_bytes(chat_jsonl(range(40)))

    # The guide's steps, as written for OpenAI.
    uploaded = client.files.create(file=open(training, "rb"), purpose="fine-tune")  # noqa: SIM115
    job = client.fine_tuning.jobs.create(
        training_file=uploaded.id,
        model="demo:tiny",
        hyperparameters={"n_epochs": 2},
        suffix="colours",
    )
    deadline = time.monotonic() + 240
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(1)
        job = client.fine_tuning.jobs.retrieve(job.id)
    events = client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=50)

    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model
    assert events.data, "the job's events are listed"
    portal_job = FineTuningJob.objects.get(fine_tuned_model__isnull=False)
    assert portal_job.project == cast.project, "the token's project"
    assert portal_job.provider == "local_peft", "trained on the team's own GPUs"
    assert portal_job.metric_points.exists(), "the same job as a browser launch, with its live chart"

    answer = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What colour is item 3?"}],
        max_tokens=6,
        temperature=0,
    )
    assert answer.model == job.fine_tuned_model
    assert answer.choices[0].message.content
    assert 1 <= answer.usage.completion_tokens <= 6


def test_a_job_on_an_invalid_file_fails_with_the_files_line_errors(portal, gpu_worker, tmp_path):
    client = portal
    bad = chat_jsonl(range(11)) + b'{"messages": [{"role": "user", "content": "no answer"}]}\n'
    uploaded = client.files.create(file=("train.jsonl", bad), purpose="fine-tune")
    assert uploaded.status == "error"

    job = client.fine_tuning.jobs.create(training_file=uploaded.id, model="demo:tiny")
    deadline = time.monotonic() + 120
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"still {job.status}"
        time.sleep(0.5)
        job = client.fine_tuning.jobs.retrieve(job.id)

    assert job.status == "failed"
    assert job.error.code == "invalid_training_file"
    assert "line 12" in job.error.message
    assert job.fine_tuned_model is None
