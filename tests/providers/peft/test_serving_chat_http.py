"""The client's streamed chats over a kept-alive connection, against a small canned SSE server: one
connection carries answer after answer, one the server closed while idle is replaced, an error event in
the stream is the server's words, and an answer abandoned half way does not spill into the next."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings
from finetune_portal.providers.peft.serving import chat_http
from finetune_portal.providers.peft.serving.client import engine_chat_stream

WORDS = ["The ", "sky ", "is ", "blue."]


class CannedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, close_after_answer=False, error_after=None):
        super().__init__(("127.0.0.1", 0), CannedHandler)
        self.close_after_answer = close_after_answer  # as a server whose idle keep-alive timed out
        self.error_after = error_after  # send an error event after this many words
        self.connections = 0
        self.lock = threading.Lock()

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class CannedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CannedServer

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, word in enumerate(WORDS):
            if index == self.server.error_after:
                self.event(
                    {"error": {"message": "The engine ran out of memory.", "type": "InternalServerError"}}
                )
                break
            self.event({"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
        else:
            self.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
            self.event({"choices": [], "usage": usage})
        self.chunk(b"data: [DONE]\n\n")
        self.chunk(b"")
        self.close_connection = self.server.close_after_answer

    def event(self, payload):
        self.chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def chunk(self, data):
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


@pytest.fixture
def canned(settings, request):
    server = CannedServer(**getattr(request, "param", {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.VLLM_BASE_URL = server.base_url
    yield server
    server.shutdown()
    server.server_close()


def chat():
    return engine_chat_stream(
        model_name="base-model",
        base_model="base-model",
        adapter_uri="",
        messages=[{"role": "user", "content": "colour?"}],
        settings=ChatSettings(max_tokens=8),
    )


def answered():
    events = list(chat())
    return "".join(event.text for event in events if isinstance(event, ChatDelta)), events[-1]


def test_answer_after_answer_comes_over_one_kept_alive_connection(canned):
    answers = [answered() for _ in range(3)]

    assert answers == [("".join(WORDS), ChatDone("stop", prompt_tokens=5, completion_tokens=4))] * 3
    assert canned.connections == 1


@pytest.mark.parametrize("canned", [{"close_after_answer": True}], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_replaced(canned):
    first, second = answered(), answered()

    assert first == second
    assert first[0] == "".join(WORDS)
    assert canned.connections == 2


def test_a_connection_idle_for_long_is_not_reused(canned, monkeypatch):
    monkeypatch.setattr(chat_http, "IDLE_SECONDS", 0)

    first, second = answered(), answered()

    assert first == second
    assert canned.connections == 2


@pytest.mark.parametrize("canned", [{"error_after": 2}], indirect=True)
def test_an_error_event_in_the_stream_is_the_servers_words(canned):
    events = chat()
    assert [next(events).text, next(events).text] == WORDS[:2]

    with pytest.raises(ProviderError) as caught:
        next(events)

    assert caught.value.code == "engine_refused"
    assert caught.value.message == "The model server refused: The engine ran out of memory."


def test_an_answer_abandoned_half_way_does_not_spill_into_the_next(canned):
    events = chat()
    assert next(events).text == WORDS[0]
    events.close()  # the reader went away

    assert answered()[0] == "".join(WORDS)
