from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from finetune_portal.providers.chat import ChatDone
from tests.inference import chat_provider

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counts live in the cache: every test starts from none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def scripted(settings):
    """The scripted chat provider installed beside OpenAI and a provider that cannot chat."""
    provider = chat_provider.ScriptedChatProvider
    provider.script = [(0.0, "Hello")]
    provider.done = ChatDone("stop", prompt_tokens=12, completion_tokens=4, cost_usd=Decimal("0.0025"))
    provider.fail_after = None
    provider.clock = None
    provider.calls = []
    provider.closed = []
    settings.FINETUNE_PROVIDERS = [OPENAI, chat_provider.PATH, chat_provider.SILENT_PATH]
    return provider
