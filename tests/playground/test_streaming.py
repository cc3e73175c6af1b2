"""An answer streams to the page as Server-Sent Events, in order, then its figures or its error in words;
under WSGI as a plain generator and under ASGI through a thread, without waiting for the end."""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import AsyncClient
from django.urls import reverse

from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import STOPPED_READING
from finetune_portal.providers.base import ModelNotReady, ModelShutDown
from tests.factories import PASSWORD
from tests.playground import paced_provider
from tests.playground.conftest import HELLO

URL = reverse("playground:answer", args=["bank-reviews"])
SETTINGS = {"system_prompt": "Be brief.", "temperature": "0.2", "stop": ["END", ""], "seed": "7"}


def parse(frames: bytes) -> list[tuple[str, dict]]:
    events = []
    for frame in frames.decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def _ask(client, user, model, **body):
    client.login(username=user.username, password=PASSWORD)
    return client.post(
        URL,
        data=json.dumps({"model": model, "messages": HELLO, "settings": SETTINGS, **body}),
        content_type="application/json",
    )


@pytest.mark.django_db
def test_the_answer_streams_in_order_and_ends_with_its_recorded_figures(client, cast, scripted, adapter):
    response = _ask(client, cast.member, adapter.name)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse(b"".join(response.streaming_content))
    assert [name for name, _ in events] == ["start", "delta", "delta", "delta", "done"]
    assert "".join(data["text"] for name, data in events if name == "delta") == "Hello there"
    answer = ChatAnswer.objects.get()
    done = events[-1][1]
    assert done["answer_id"] == answer.pk
    assert (done["prompt_tokens"], done["completion_tokens"]) == (12, 3)
    assert Decimal(done["cost_usd"]) == Decimal("0.0025") == answer.cost_usd
    assert (done["latency_ms"], done["ttft_ms"]) == (answer.latency_ms, answer.ttft_ms)
    assert (answer.source, answer.user, answer.output) == ("playground", cast.member, "Hello there")
    sent = scripted.calls[0]["settings"]
    assert (sent.system_prompt, sent.temperature, sent.stop, sent.seed) == ("Be brief.", 0.2, ("END",), 7)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ModelNotReady(), "try again in a minute"),
        (ModelShutDown("gpt-3.5-turbo-0613 was shut down on 2024-09-13."), "was shut down on 2024-09-13"),
    ],
)
def test_a_provider_refusal_arrives_as_an_error_event_in_words(client, cast, scripted, adapter, error, words):
    scripted.script = []
    scripted.fail_after = error

    events = parse(b"".join(_ask(client, cast.member, adapter.name).streaming_content))

    assert [name for name, _ in events] == ["start", "error"]
    assert words in events[-1][1]["message"]
    assert events[-1][1]["code"] == error.code
    assert ChatAnswer.objects.get().error


@pytest.mark.django_db
def test_a_reader_that_leaves_half_way_stops_the_model_and_the_answer_says_so(
    client, cast, scripted, adapter, monkeypatch
):
    response = _ask(client, cast.member, adapter.name)
    stream = iter(response.streaming_content)
    assert parse(next(stream))[0][0] == "start"
    assert parse(next(stream))[0][0] == "delta"

    # As a server does when the browser goes away. Closing fires request_finished, which would close the
    # test's database connection (it is inside the test's transaction); keep it open.
    monkeypatch.setattr(connection, "close_if_unusable_or_obsolete", lambda: None)
    response.close()

    assert scripted.closed == [True]
    answer = ChatAnswer.objects.get()
    assert (answer.output, answer.error) == ("Hel", STOPPED_READING)


@pytest.mark.django_db(transaction=True)
def test_under_asgi_each_piece_is_sent_before_the_model_has_finished(cast, scripted):
    gate = threading.Event()
    paced_provider.PacedChatProvider.gate = gate

    async def scenario() -> list[tuple[str, dict]]:
        client = AsyncClient()
        await client.alogin(username=cast.member.username, password=PASSWORD)
        response = await client.post(
            URL,
            data=json.dumps({"model": paced_provider.BASE, "messages": HELLO}),
            content_type="application/json",
        )
        assert response.status_code == 200
        frames = response.streaming_content.__aiter__()
        received = [await asyncio.wait_for(frames.__anext__(), 10) for _ in range(2)]
        # The model is held after its first piece: what arrived came while it was still answering.
        assert not gate.is_set()
        gate.set()
        received += [frame async for frame in frames]
        return parse(b"".join(received))

    events = asyncio.run(scenario())

    assert [name for name, _ in events] == ["start", "delta", "delta", "delta", "done"]
    assert events[1][1] == {"text": "Hel"}
    assert events[-1][1]["completion_tokens"] == 3
    assert ChatAnswer.objects.get().output == "Hello there"
