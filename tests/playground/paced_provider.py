"""A chat provider that answers slowly, piece by piece, like a real model: for streaming tests (where a
gate holds the answer half way) and the playground benchmark (many answers streaming at once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from finetune_portal.providers.base import Capabilities, FineTuningProvider
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent, ChatSettings, ServedModel

KEY = "fake_paced"
PATH = f"{__name__}.PacedChatProvider"
BASE = "paced-base-1"


class PacedChatProvider(FineTuningProvider):
    key = KEY
    label = "Paced chats"
    capabilities = Capabilities(methods=frozenset({"sft"}), inference=True)
    launch_form = "tests.providers.fake_provider.FakeJobForm"

    pieces: list[str] = ["Hel", "lo ", "there"]
    seconds_per_piece = 0.0
    # When set, the answer stops after its first piece until the gate opens.
    gate: threading.Event | None = None

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
        for index, piece in enumerate(cls.pieces):
            if index == 1 and cls.gate is not None and not cls.gate.wait(timeout=30):
                raise TimeoutError("the test never opened the gate")
            if cls.seconds_per_piece:
                time.sleep(cls.seconds_per_piece)
            yield ChatDelta(piece)
        yield ChatDone("stop", prompt_tokens=len(messages) * 5, completion_tokens=len(cls.pieces))
