"""Providers that live only in the tests: one that answers chats from a script, one that cannot chat.
Added through settings.FINETUNE_PROVIDERS, they show the inference core needs no provider package."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from finetune_portal.providers.base import Capabilities, FineTuningProvider, ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent, ChatSettings, ServedModel

KEY = "fake_chat"
PATH = f"{__name__}.ScriptedChatProvider"
SILENT_KEY = "fake_silent"
SILENT_PATH = f"{__name__}.SilentProvider"
BASE = "scripted-base-1"


class Clock:
    """A perf_counter the scripted provider moves, so the recorded figures are exact."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


class ScriptedChatProvider(FineTuningProvider):
    key = KEY
    label = "Scripted chats"
    capabilities = Capabilities(methods=frozenset({"sft"}), inference=True)
    launch_form = "tests.providers.fake_provider.FakeJobForm"

    # Set by each test: (seconds that pass before it, the piece of text) per piece; then how it ends.
    script: list[tuple[float, str]] = []
    done: ChatDone | None = ChatDone(
        "stop", prompt_tokens=12, completion_tokens=4, cost_usd=Decimal("0.0025")
    )
    fail_after: ProviderError | None = None
    clock: Clock | None = None
    calls: list[dict] = []
    closed: list[bool] = []

    @classmethod
    def reset(cls) -> type[ScriptedChatProvider]:
        """The answer most tests want ("Hello there" in three pieces, 12 tokens in, 3 out) and no
        record of earlier calls."""
        cls.script = [(0.0, "Hel"), (0.0, "lo "), (0.0, "there")]
        cls.done = ChatDone("stop", prompt_tokens=12, completion_tokens=3, cost_usd=Decimal("0.0025"))
        cls.fail_after = None
        cls.clock = None
        cls.calls = []
        cls.closed = []
        return cls

    def enqueue_start(self, job_id: int) -> None:
        pass

    def enqueue_cancel(self, job_id: int) -> None:
        pass

    def chat_base_models(self, project) -> list[ServedModel]:
        return [
            ServedModel(name=BASE, label=f"{BASE} · base", provider=KEY, kind="base", provider_model=BASE)
        ]

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        cls = type(self)
        cls.calls.append({"project": project, "model": model, "messages": messages, "settings": settings})
        try:
            for wait, text in cls.script:
                if cls.clock is not None:
                    cls.clock.now += wait
                yield ChatDelta(text)
            if cls.fail_after is not None:
                raise cls.fail_after
            if cls.done is not None:
                yield cls.done
        finally:
            cls.closed.append(True)


class SilentProvider(FineTuningProvider):
    """Trains, but cannot answer chats."""

    key = SILENT_KEY
    label = "Cannot chat"
    capabilities = Capabilities(methods=frozenset({"sft"}))
    launch_form = "tests.providers.fake_provider.FakeJobForm"

    def enqueue_start(self, job_id: int) -> None:
        pass

    def enqueue_cancel(self, job_id: int) -> None:
        pass
