"""Answers stream piece by piece under both kinds of server: Django's WSGI server (runserver, the test
live server) and ASGI (uvicorn). The gated provider sends one piece and waits until the test has
received it; a server that buffered the answer would hold that piece back, and the text says so."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import openai
import pytest

from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import STOPPED_READING
from tests.api import gated_provider
from tests.api.servers import asgi_server
from tests.inference import chat_provider

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi"}]


def _stream_and_release(base_url: str, token: str) -> list[str]:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=30)
    pieces = []
    for chunk in client.chat.completions.create(model=gated_provider.BASE, messages=HELLO, stream=True):
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                gated_provider.GatedChatProvider.first_piece_received.set()
    return pieces


def test_a_stream_arrives_piece_by_piece_under_wsgi(live_server, raw_token, scripted):
    assert _stream_and_release(live_server.url, raw_token) == ["first", " then the rest"]
    assert ChatAnswer.objects.get().output == "first then the rest"


def test_a_stream_arrives_piece_by_piece_under_asgi(raw_token, scripted):
    with asgi_server() as base_url:
        assert _stream_and_release(base_url, raw_token) == ["first", " then the rest"]
    answer = ChatAnswer.objects.get()
    assert (answer.output, answer.source, answer.error) == ("first then the rest", "api", "")


def test_a_whole_answer_under_asgi(raw_token, scripted):
    gated_provider.GatedChatProvider.first_piece_received.set()
    with asgi_server() as base_url:
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=raw_token, max_retries=0, timeout=30)
        completion = client.chat.completions.create(model=gated_provider.BASE, messages=HELLO)
        assert completion.choices[0].message.content == "first then the rest"
        with pytest.raises(openai.AuthenticationError):
            client.with_options(api_key="ftp_wrong_token").models.list()


def _raw_stream(base_url: str, token: str) -> bytes:
    """The bytes of a streamed answer, with what differs between two answers (id, time) masked."""
    body = {"model": chat_provider.BASE, "messages": HELLO, "stream": True}
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        f"{base_url}/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the loopback test server
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        raw = response.read()
    raw = re.sub(rb'"id":"chatcmpl-[0-9a-f]+"', b'"id":"chatcmpl-X"', raw)
    return re.sub(rb'"created":\d+', b'"created":0', raw)


def test_a_streamed_answer_is_the_same_bytes_under_asgi_and_wsgi(live_server, raw_token, scripted):
    under_wsgi = _raw_stream(live_server.url, raw_token)
    with asgi_server() as base_url:
        under_asgi = _raw_stream(base_url, raw_token)

    assert under_asgi == under_wsgi
    assert under_wsgi.startswith(b'data: {"id":"chatcmpl-X","object":"chat.completion.chunk"')
    assert under_wsgi.count(b"data: ") == 6  # role, three pieces, finish, [DONE]
    assert under_wsgi.endswith(b"data: [DONE]\n\n")
    assert [a.output for a in ChatAnswer.objects.order_by("id")] == ["Hello there", "Hello there"]


def _leave_after_the_first_piece(base_url: str, token: str) -> ChatAnswer:
    gated = gated_provider.GatedChatProvider
    gated.endless = True
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=30)
    stream = client.chat.completions.create(model=gated_provider.BASE, messages=HELLO, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    gated.first_piece_received.set()
    # The server notices the reader has gone when it next writes, and closes the answer's iterator.
    assert gated.closed.wait(gated_provider.WAIT_SECONDS), "the provider was never told to stop"
    for _ in range(500):  # the answer is recorded just after the provider stops
        answer = ChatAnswer.objects.first()
        if answer is not None:
            return answer
        time.sleep(0.01)
    raise AssertionError("the abandoned answer was not recorded")


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_a_reader_that_leaves_stops_the_answer_which_is_recorded_as_abandoned(
    request, raw_token, scripted, server
):
    if server == "wsgi":
        answer = _leave_after_the_first_piece(request.getfixturevalue("live_server").url, raw_token)
    else:
        with asgi_server() as base_url:
            answer = _leave_after_the_first_piece(base_url, raw_token)

    assert answer.error == STOPPED_READING
    # Recorded once, with its figures, before the response ended: nothing is left half-recorded.
    assert ChatAnswer.objects.count() == 1
    assert answer.latency_ms is not None
    assert answer.source == "api"
    # What had arrived is kept; depending on when the server noticed, the provider was stopped before
    # or after it was let go on.
    assert answer.output.startswith("first")
    # Far fewer pieces than the endless provider would have sent: it was stopped, not run out.
    assert len(answer.output) < len("first then the rest") + gated_provider.WAIT_SECONDS * 100
