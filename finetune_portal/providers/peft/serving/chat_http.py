"""A streamed chat completion from an OpenAI-compatible server over one kept-alive HTTP connection per
thread, read as Server-Sent Events line by line.

The portal's hot path to its model server: the openai SDK's request building and its typed chunks cost
several milliseconds of CPU per answer, as much as the tiny demo model takes to answer, so chats go this
way; the SDK stays for the rare calls (loading an adapter). Standard library only.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 5.0
# A connection idle this long is not reused: vLLM's server (uvicorn) closes one idle for 5 s, and each
# open one holds a thread of the embedded server.
IDLE_SECONDS = 4.0

_connections = threading.local()  # per thread: {(scheme, host, port): (HTTPConnection, last used)}


class ChatRefused(Exception):
    """The server answered with an error: its HTTP status (0 for an error event mid-stream), message and
    error object."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class ChatUnreachable(Exception):
    """No answer from the server: it refused the connection, hung up or timed out."""


def chat_stream_open(*, base_url: str, api_key: str, body: dict[str, Any], timeout: float) -> ChatStream:
    """POST ``body`` (with ``"stream": true``) to ``{base_url}/chat/completions``; the response's status is
    checked before this returns, so a refusal is raised here."""
    url = urlsplit(base_url.rstrip("/") + "/chat/completions")
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Authorization": f"Bearer {api_key or 'not-needed'}",
    }
    key = (url.scheme, url.hostname or "", url.port)
    for attempt in (1, 2):
        connection, reused = _connection(key, timeout)
        try:
            if connection.sock is None:
                connection.connect()
            connection.sock.settimeout(timeout)
            connection.request("POST", url.path, body=payload, headers=headers)
            response = connection.getresponse()
            break
        except (OSError, http.client.HTTPException) as exc:
            _drop(key)
            # A kept-alive connection the server closed meanwhile fails before any answer: one more try
            # on a fresh connection. Not after a timeout: the server may be working on the request.
            if isinstance(exc, TimeoutError) or not (reused and attempt == 1):
                raise ChatUnreachable(str(exc)) from exc
    if response.status != 200:
        raw = _read_all(response, key)
        raise ChatRefused(response.status, *_error_of(raw, response.reason))
    return ChatStream(response, key)


class ChatStream:
    """The chunks of a streamed answer as dicts; ``close()`` before the end hangs up."""

    def __init__(self, response: http.client.HTTPResponse, key: tuple):
        self._response = response
        self._key = key
        self._done = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for line in self._response:
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments and event names
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise ChatRefused(0, *_error_of(data, "An error occurred during streaming"))
                yield chunk
            self._response.read()  # the body's end, so the connection can carry the next request
            self._done = True
            _idle_from_now(self._key)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ChatUnreachable(str(exc)) from exc
        finally:
            self.close()

    def close(self) -> None:
        if not self._done or self._response.will_close:
            _drop(self._key)  # unread answer left on it: it cannot be reused
        self._response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _connection(key: tuple, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    pool: dict[tuple, tuple[http.client.HTTPConnection, float]] = getattr(_connections, "pool", None) or {}
    _connections.pool = pool
    now = time.monotonic()
    kept = pool.get(key)
    if kept is not None and now - kept[1] < IDLE_SECONDS:
        pool[key] = (kept[0], now)
        return kept[0], True
    _drop(key)
    scheme, host, port = key
    kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    connection = kind(host, port, timeout=min(timeout, CONNECT_TIMEOUT))
    pool[key] = (connection, now)
    return connection, False


def _idle_from_now(key: tuple) -> None:
    pool = getattr(_connections, "pool", None) or {}
    if key in pool:
        pool[key] = (pool[key][0], time.monotonic())


def _drop(key: tuple) -> None:
    pool = getattr(_connections, "pool", None) or {}
    kept = pool.pop(key, None)
    if kept is not None:
        kept[0].close()


def _read_all(response: http.client.HTTPResponse, key: tuple) -> bytes:
    try:
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:
        _drop(key)
        raise ChatUnreachable(str(exc)) from exc
    if response.will_close:
        _drop(key)
    else:
        _idle_from_now(key)
    return raw


def _error_of(raw: bytes, fallback: str) -> tuple[str, Any]:
    """The message and error object of an OpenAI-style error body ({"error": {...}}, or vLLM's flat one)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return (raw.decode(errors="replace").strip() or fallback), None
    inner = body.get("error") if isinstance(body, dict) else None
    inner = inner if isinstance(inner, dict) else body
    if isinstance(inner, dict) and inner.get("message"):
        return str(inner["message"]), inner
    return fallback, inner
