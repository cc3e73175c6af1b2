from __future__ import annotations

import pytest
from django.core.cache import cache

from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.services import checkpoint_record
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.services import fine_tuned_model_record
from tests.factories import make_job
from tests.inference import chat_provider
from tests.playground import paced_provider

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"
HELLO = [{"role": "user", "content": "Hi there"}]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counts live in the cache: every test starts from none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scripted(settings):
    """The scripted chat provider (tests/inference) and the paced one, installed beside OpenAI."""
    provider = chat_provider.ScriptedChatProvider.reset()
    paced = paced_provider.PacedChatProvider
    paced.pieces, paced.seconds_per_piece, paced.gate = ["Hel", "lo ", "there"], 0.0, None
    settings.FINETUNE_PROVIDERS = [OPENAI, chat_provider.PATH, paced_provider.PATH]
    return provider


@pytest.fixture
def adapter(cast, scripted):
    """A succeeded job of the scripted provider with its fine-tuned model (and a kept checkpoint)."""
    job = make_job(
        cast.project,
        status=JobStatus.SUCCEEDED,
        provider=chat_provider.KEY,
        base_model=chat_provider.BASE,
        suffix="support",
        name="Support bot",
        created_by=cast.member,
    )
    model = fine_tuned_model_record(
        job=job, base_model=chat_provider.BASE, adapter_uri="file:///adapters/final"
    )
    checkpoint_record(job=job, step=10, storage_uri="file:///adapters/checkpoint-10")
    return served_model_of(model)
