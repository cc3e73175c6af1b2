"""/v1 through the live test server with the real openai SDK: models, chat completions whole and
streamed, and every refusal in OpenAI's error format, each answer checked against OpenAI's OpenAPI
description."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from finetune_portal.api.services import api_token_create
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.providers.base import ProviderError
from tests.api.contract import assert_chunks_match, assert_error_matches, assert_response_matches, sse_chunks
from tests.inference import chat_provider

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi there"}]


def test_models_lists_the_project_s_served_models_in_openai_s_format(sdk, adapter, other_adapter):
    raw = sdk.models.with_raw_response.list()
    body = raw.http_response.json()

    assert_response_matches("GET", "/v1/models", 200, body)
    ids = [m["id"] for m in body["data"]]
    assert ids == [adapter.name, chat_provider.BASE, "gated-base"]
    assert adapter.name == f"ft:tiny:bank-reviews:support:job-{adapter.job_id}"
    assert other_adapter.name not in ids
    first = body["data"][0]
    assert first["object"] == "model"
    assert first["owned_by"] == "bank-reviews"
    assert first["created"] > 0
    assert body["data"][1]["owned_by"] == chat_provider.KEY
    assert [m.id for m in sdk.models.list()] == ids


def test_one_model_by_its_name_and_another_project_s_is_not_found(sdk, adapter, other_adapter):
    model = sdk.models.retrieve(adapter.name)
    assert (model.id, model.object) == (adapter.name, "model")
    raw = sdk.models.with_raw_response.retrieve(adapter.name)
    assert_response_matches("GET", f"/v1/models/{adapter.name}", 200, raw.http_response.json())

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve(other_adapter.name)
    error = assert_error_matches(caught.value, "/v1/models/x", method="GET")
    assert error["code"] == "model_not_found"


def test_a_chat_completion_in_openai_s_format_is_recorded_as_an_api_answer(sdk, cast, scripted, adapter):
    raw = sdk.chat.completions.with_raw_response.create(
        model=adapter.name,
        messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=20,
        stop=["END", "\n\n"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        user="someone",
    )
    body = raw.http_response.json()
    completion = raw.parse()

    assert_response_matches("POST", "/v1/chat/completions", 200, body)
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    ) == (
        12,
        3,
        15,
    )
    assert completion.model == adapter.name
    assert completion.id.startswith("chatcmpl-")
    assert raw.http_response.headers["x-request-id"].startswith("req_")
    sent = scripted.calls[0]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, *HELLO]
    settings = sent["settings"]
    assert (settings.temperature, settings.top_p, settings.max_tokens, settings.stop, settings.seed) == (
        0.3,
        0.9,
        20,
        ("END", "\n\n"),
        7,
    )
    assert (settings.presence_penalty, settings.frequency_penalty) == (0.5, -0.5)
    answer = ChatAnswer.objects.get()
    assert (answer.source, answer.user, answer.project, answer.output) == (
        "api",
        cast.member,
        cast.project,
        "Hello there",
    )


def test_a_streamed_chat_completion_in_openai_s_chunks(sdk, scripted, adapter):
    pieces = []
    stream = sdk.chat.completions.create(
        model=adapter.name, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    for chunk in chunks:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")

    assert "".join(pieces) == "Hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["Hel", "lo ", "there"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 15
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    assert ChatAnswer.objects.get().output == "Hello there"


def test_every_stream_chunk_matches_openai_s_description(sdk, scripted, adapter):
    for include_usage in (True, False):
        with sdk.chat.completions.with_streaming_response.create(
            model=adapter.name,
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": include_usage},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks, done = sse_chunks(response.iter_lines())
        assert done
        assert_chunks_match(chunks)
        assert all(("usage" in c) == include_usage for c in chunks)
        assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * len(chunks)


def test_a_failure_half_way_through_a_stream_reaches_the_sdk_as_an_error(sdk, scripted, adapter):
    scripted.fail_after = ProviderError("The engine ran out of memory.", permanent=False, code="engine_oom")
    stream = sdk.chat.completions.create(model=adapter.name, messages=HELLO, stream=True)

    with pytest.raises(openai.APIError, match="ran out of memory") as caught:
        list(stream)
    assert caught.value.code == "engine_oom"
    assert "ran out of memory" in ChatAnswer.objects.get().error


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "You didn't provide an API token"),
        ("ftp_0123456789ab_not-a-real-secret-at-all-0000000000000", "Incorrect API token provided."),
        ("sk-an-openai-key", "This is not a portal API token"),
    ],
)
def test_a_missing_or_wrong_token_is_refused_with_401(live_server, adapter, token, message):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token or "placeholder", max_retries=0)
    if not token:
        client = client.with_options(default_headers={"Authorization": ""})

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model=adapter.name, messages=HELLO)
    error = assert_error_matches(caught.value, "/v1/chat/completions")
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == (None if not token else "invalid_api_key")
    assert not ChatAnswer.objects.exists()


def test_a_revoked_token_and_a_former_member_s_token_get_401(sdk, cast, adapter, raw_token):
    from finetune_portal.api.models import ApiToken
    from finetune_portal.api.services import api_token_revoke
    from finetune_portal.projects.models import Membership

    assert sdk.models.list().data
    api_token_revoke(token=ApiToken.objects.get(), actor=cast.member)
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        sdk.models.list()

    _, lead_token = api_token_create(user=cast.ml_lead, project=cast.project, name="t", actor=cast.ml_lead)
    lead = sdk.with_options(api_key=lead_token)
    assert lead.models.list().data
    Membership.objects.filter(user=cast.ml_lead).delete()
    with pytest.raises(openai.AuthenticationError, match="no longer a member"):
        lead.models.list()


def test_the_session_does_not_authenticate_v1(client, cast, adapter):
    """A logged-in browser's cookie is no API credential (it would let other sites call /v1)."""
    client.force_login(cast.member)

    response = client.get("/v1/models")

    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("You didn't provide an API token")


def test_another_project_s_model_and_an_unknown_model_are_not_found(sdk, adapter, other_adapter):
    for name in (other_adapter.name, "no-such-model"):
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model=name, messages=HELLO)
        error = assert_error_matches(caught.value, "/v1/chat/completions")
        assert (error["code"], error["param"]) == ("model_not_found", "model")
        assert error["message"] == f"The model `{name}` does not exist or you do not have access to it."
    assert not ChatAnswer.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "param", "words"),
    [
        ({"temperature": 2.5}, "temperature", "between 0 and 2"),
        ({"top_p": -0.1}, "top_p", "between 0 and 1"),
        ({"max_tokens": 0}, "max_tokens", "at least 1"),
        ({"max_completion_tokens": 0}, "max_completion_tokens", "at least 1"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"n": 2}, "n", "must be 1"),
        ({"seed": 1.5}, "seed", "integer"),
        ({"presence_penalty": 3}, "presence_penalty", "between -2 and 2"),
        ({"frequency_penalty": -2.5}, "frequency_penalty", "between -2 and 2"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "not supported"),
        ({"logprobs": True}, "logprobs", "not supported"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when 'stream'"),
        ({"messages": []}, "messages", "non-empty list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "must be one of"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "Missing required parameter"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "c"}]}, "messages[0]", "tools"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content[0]",
            "Only text content",
        ),
        ({"extra_body": {"top_k": 5}}, "top_k", "Unrecognized request argument supplied: top_k"),
    ],
)
def test_bad_requests_are_refused_with_400_naming_the_parameter(
    sdk, scripted, adapter, arguments, param, words
):
    call = {"model": adapter.name, "messages": HELLO, **arguments}

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**call)

    error = assert_error_matches(caught.value, "/v1/chat/completions")
    assert error["param"] == param
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert scripted.calls == []
    assert not ChatAnswer.objects.exists()


def test_text_content_parts_and_neutral_values_of_refused_fields_are_accepted(sdk, scripted, adapter):
    sdk.chat.completions.create(
        model=adapter.name,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}
        ],
        n=1,
        tools=[],
        logprobs=False,
        response_format={"type": "text"},
        metadata={"run": "7"},
        store=False,
    )

    assert scripted.calls[0]["messages"] == [{"role": "user", "content": "Hi\nthere"}]


def _post(live_server, token: str, data: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        f"{live_server.url}/v1/chat/completions",
        data=data,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - the loopback test server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_body_over_the_limit_gets_413(sdk, settings, scripted, adapter):
    settings.API_MAX_BODY_BYTES = 2000

    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model=adapter.name, messages=[{"role": "user", "content": "x" * 3000}])

    assert caught.value.status_code == 413
    error = assert_error_matches(caught.value, "/v1/chat/completions")
    assert "larger than this portal accepts (2,000 bytes" in error["message"]
    assert scripted.calls == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "has no body"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "Missing required parameter: 'model'"),
        (b'{"model": "x"}', "Missing required parameter: 'messages'"),
    ],
)
def test_a_body_that_is_not_a_request_gets_400_in_openai_s_shape(
    live_server, raw_token, adapter, data, words
):
    status, body = _post(live_server, raw_token, data)

    assert status == 400
    assert_response_matches("POST", "/v1/chat/completions", status, body)
    assert words in body["error"]["message"]


def test_unknown_paths_and_methods_answer_in_openai_s_shape(live_server, raw_token, sdk):
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        sdk.get("/no/such/thing", cast_to=object)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.delete("/chat/completions", cast_to=object)
    assert caught.value.status_code == 405
    assert caught.value.response.headers["allow"] == "POST"
    assert_error_matches(caught.value, "/v1/chat/completions")


def test_requests_at_once_with_one_token_all_answer_and_are_all_recorded(sdk, scripted, adapter):
    from concurrent.futures import ThreadPoolExecutor

    from finetune_portal.api.models import ApiToken

    def ask(index: int) -> str:
        stream = index % 2 == 0
        if stream:
            chunks = sdk.chat.completions.create(model=adapter.name, messages=HELLO, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return sdk.chat.completions.create(model=adapter.name, messages=HELLO).choices[0].message.content

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(ask, range(4)))

    assert answers == ["Hello there"] * 4
    assert ChatAnswer.objects.filter(source="api").count() == 4
    assert ApiToken.objects.get().last_used_at is not None
