from __future__ import annotations

import openai
import pytest
from django.core.cache import cache

from finetune_portal.api.services import api_token_create
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.services import fine_tuned_model_record
from tests.api import gated_provider
from tests.factories import make_job
from tests.inference import chat_provider

# The stand-in OpenAI and its credential, for the tests that put OpenAI behind /v1.
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counts live in the cache: every test starts from none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scripted(settings):
    """The scripted chat provider (and one that waits on the test) installed beside OpenAI."""
    provider = chat_provider.ScriptedChatProvider.reset()
    gated_provider.GatedChatProvider.reset()
    settings.FINETUNE_PROVIDERS = [OPENAI, chat_provider.PATH, gated_provider.PATH]
    return provider


def _adapter_of(project, provider_key: str, base: str):
    job = make_job(
        project, status=JobStatus.SUCCEEDED, provider=provider_key, base_model=base, suffix="support"
    )
    model = fine_tuned_model_record(job=job, base_model=base, adapter_uri="file:///adapters/final")
    return served_model_of(model)


@pytest.fixture
def adapter(cast, scripted):
    """A fine-tuned local adapter of the project, answered by the scripted provider."""
    return _adapter_of(cast.project, chat_provider.KEY, "tiny")


@pytest.fixture
def other_adapter(cast, scripted):
    """The other project's fine-tuned model."""
    return _adapter_of(cast.other_project, chat_provider.KEY, "tiny")


@pytest.fixture
def raw_token(cast):
    """A token of the member in the project, as its owner copied it."""
    _, raw = api_token_create(user=cast.member, project=cast.project, name="tests", actor=cast.member)
    return raw


@pytest.fixture
def sdk(live_server, raw_token):
    """The real openai SDK pointed at the live test server, without retries (each status is seen once)."""
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw_token, max_retries=0, timeout=20)
