"""Checks the portal's /v1 answers against OpenAI's OpenAPI description (tests/contracts/)."""

from __future__ import annotations

import json

from tests.contracts.openapi_contract import response_problems, stream_problems


def assert_response_matches(method: str, path: str, status: int, body) -> None:
    problems = response_problems({"method": method, "path": path, "status": status, "response": body})
    assert problems == [], problems


def assert_error_matches(exc, path: str, method: str = "POST") -> dict:
    """The SDK exception's HTTP body is OpenAI's ErrorResponse; returns the error object."""
    body = exc.response.json()
    assert_response_matches(method, path, exc.status_code, body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def sse_chunks(lines) -> tuple[list[dict], bool]:
    """The JSON chunks of a server-sent event stream, and whether it ended with [DONE]."""
    chunks, done = [], False
    for line in lines:
        if not line.startswith("data: "):
            assert line == "", f"unexpected line in the stream: {line!r}"
            continue
        data = line.removeprefix("data: ")
        if data == "[DONE]":
            done = True
            continue
        assert not done, "data after [DONE]"
        chunks.append(json.loads(data))
    return chunks, done


def assert_chunks_match(chunks: list[dict]) -> None:
    problems = stream_problems({"stream": chunks})
    assert problems == [], problems
