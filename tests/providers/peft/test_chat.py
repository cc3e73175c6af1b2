"""Chatting with a local run: a trained demo:tiny job answers through the inference core and the embedded
model server, beside the base model it started from."""

from __future__ import annotations

import pytest

from finetune_portal.inference.catalog import served_model_get, served_model_of, served_models
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_complete
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.chat import ChatSettings
from finetune_portal.providers.peft.serving import client
from finetune_portal.providers.peft.serving.engine import Engine
from tests.providers.peft.helpers import run_queued_job
from tests.providers.peft.serving_support import running_server

pytestmark = pytest.mark.django_db(transaction=True)

GREEDY = ChatSettings(max_tokens=6, temperature=0)
QUESTION = [{"role": "user", "content": "What colour is item 3?"}]


@pytest.fixture
def model_server(settings, model_cache):
    client._loaded.clear()
    with running_server(Engine(cache_dir=model_cache)) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url
        yield server
    client._loaded.clear()


def test_a_trained_local_run_answers_next_to_its_base(cast, chat_versions, model_server):
    job, outcome = run_queued_job(cast, versions=chat_versions)
    assert outcome == "succeeded", job.error_message
    assert job.status == JobStatus.SUCCEEDED

    tuned = served_model_of(job.fine_tuned_model)
    names = {model.name for model in served_models(cast.project)}
    assert tuned.name in names
    assert "demo:tiny" in names, "the base the run started from can be tried beside it"
    base = served_model_get(cast.project, "demo:tiny")
    assert base is not None

    answers = [
        chat_complete(
            project=cast.project,
            user=cast.member,
            model=model,
            messages=QUESTION,
            settings=GREEDY,
            source="playground",
        )
        for model in (tuned, base)
    ]

    for answer in answers:
        assert answer.error == ""
        assert answer.output
        assert answer.completion_tokens == 6
        assert answer.cost_usd is None, "own GPUs are not billed per answer"
    assert ChatAnswer.objects.filter(project=cast.project).count() == 2
    assert ChatAnswer.objects.get(model_name=tuned.name).fine_tuned_model_id == job.fine_tuned_model.pk
