"""A chat provider that holds its answer until the test lets it go on: it sends its first piece, then
waits until the test has *received* that piece. A server that buffered the stream would never deliver
it, so the wait would run out and the provider says so in its answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from finetune_portal.providers.base import Capabilities, FineTuningProvider
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatEvent, ChatSettings, ServedModel

KEY = "gated_chat"
PATH = f"{__name__}.GatedChatProvider"
BASE = "gated-base"
# Long enough never to run out when the stream works; the test fails (not hangs) when it does not.
WAIT_SECONDS = 20


class GatedChatProvider(FineTuningProvider):
    key = KEY
    label = "Gated chats"
    capabilities = Capabilities(methods=frozenset({"sft"}), inference=True)
    launch_form = "tests.providers.fake_provider.FakeJobForm"

    first_piece_received = threading.Event()
    closed = threading.Event()
    # When set, the answer goes on (a piece every 10 ms, up to WAIT_SECONDS) until its reader leaves.
    endless = False

    @classmethod
    def reset(cls) -> None:
        cls.first_piece_received = threading.Event()
        cls.closed = threading.Event()
        cls.endless = False

    def enqueue_start(self, job_id: int) -> None:
        pass

    def enqueue_cancel(self, job_id: int) -> None:
        pass

    def chat_base_models(self, project) -> list[ServedModel]:
        return [ServedModel(name=BASE, label=BASE, provider=KEY, kind="base", provider_model=BASE)]

    def chat_stream(
        self, *, project, model: ServedModel, messages: list[dict], settings: ChatSettings
    ) -> Iterator[ChatEvent]:
        cls = type(self)
        try:
            yield ChatDelta("first")
            arrived = cls.first_piece_received.wait(WAIT_SECONDS)
            yield ChatDelta(" then the rest" if arrived else " [the first piece never reached the client]")
            for _ in range(WAIT_SECONDS * 100 if cls.endless else 0):
                time.sleep(0.01)
                yield ChatDelta(".")
            yield ChatDone("stop", prompt_tokens=3, completion_tokens=2)
        finally:
            cls.closed.set()
