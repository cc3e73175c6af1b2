"""The request fields /v1 knows are exactly OpenAI's, so a new OpenAI field is a decision, not an
accident."""

from __future__ import annotations

from finetune_portal.api.v1.chat_request import IGNORED, KNOWN, REFUSED, USED, parse_chat_request
from tests.contracts.openapi_contract import spec


def _properties(name: str) -> set[str]:
    schemas = spec()["components"]["schemas"]
    found: set[str] = set()
    for part in schemas[name].get("allOf", [schemas[name]]):
        if "$ref" in part:
            found |= _properties(part["$ref"].rsplit("/", 1)[-1])
        else:
            found |= set(part.get("properties", {}))
    return found


def test_the_known_fields_are_exactly_openai_s_request_properties():
    assert _properties("CreateChatCompletionRequest") == KNOWN
    assert not (USED & IGNORED)
    assert not (USED & set(REFUSED))
    assert not (IGNORED & set(REFUSED))


def test_a_request_becomes_the_inference_core_s_settings():
    chat = parse_chat_request(
        {
            "model": " ft:tiny:p:x:job-1 ",
            "messages": [
                {"role": "developer", "content": "Be brief.", "name": "ops"},
                {"role": "user", "content": "Hi"},
            ],
            "max_tokens": 30,
            "max_completion_tokens": 30,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
        }
    )

    assert chat.model == "ft:tiny:p:x:job-1"
    assert chat.messages == [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert (chat.settings.max_tokens, chat.settings.stop, chat.settings.temperature) == (30, ("END",), 0.0)
    assert (chat.stream, chat.include_usage) == (True, True)
