"""The HTTP face of the stand-in: OpenAI's routes under /v1, JSON in and out, multipart for uploads."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import logging
import re
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devtools.openai_standin import batches
from devtools.openai_standin.state import GRADER_TYPES, ApiError, StandinState, page_after

JSON = "application/json"
logger = logging.getLogger(__name__)
FAULT_MESSAGES = {
    "insufficient_quota": "You exceeded your current quota, please check your plan and billing details.",
    "invalid_api_key": "Incorrect API key provided. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "insufficient_permissions": "You have insufficient permissions for this operation. "
    "Missing scopes: api.fine_tuning.jobs.read.",
}


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(address, _Handler)
        self.state = StandinState()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start_in_thread(self) -> StandinServer:
        self._thread = threading.Thread(target=self.serve_forever, name="openai-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(f"^/v1{pattern}$"), name)
    for method, pattern, name in [
        ("POST", r"/files", "file_create"),
        ("GET", r"/files", "file_list"),
        ("GET", r"/files/(?P<id>[^/]+)", "file_retrieve"),
        ("DELETE", r"/files/(?P<id>[^/]+)", "file_delete"),
        ("GET", r"/files/(?P<id>[^/]+)/content", "file_content"),
        ("POST", r"/fine_tuning/jobs", "job_create"),
        ("GET", r"/fine_tuning/jobs", "job_list"),
        ("GET", r"/fine_tuning/jobs/(?P<id>[^/]+)", "job_retrieve"),
        ("POST", r"/fine_tuning/jobs/(?P<id>[^/]+)/cancel", "job_cancel"),
        ("POST", r"/fine_tuning/jobs/(?P<id>[^/]+)/pause", "job_pause"),
        ("POST", r"/fine_tuning/jobs/(?P<id>[^/]+)/resume", "job_resume"),
        ("GET", r"/fine_tuning/jobs/(?P<id>[^/]+)/events", "event_list"),
        ("GET", r"/fine_tuning/jobs/(?P<id>[^/]+)/checkpoints", "checkpoint_list"),
        ("POST", r"/fine_tuning/alpha/graders/validate", "grader_validate"),
        ("GET", r"/models", "model_list"),
        ("GET", r"/models/(?P<id>[^/]+)", "model_retrieve"),
        ("POST", r"/chat/completions", "chat_completion"),
        ("POST", r"/batches", "batch_create"),
        ("GET", r"/batches", "batch_list"),
        ("GET", r"/batches/(?P<id>[^/]+)", "batch_retrieve"),
        ("POST", r"/batches/(?P<id>[^/]+)/cancel", "batch_cancel"),
    ]
]


def _limit(query: dict[str, str], default: int, high: int) -> int:
    try:
        value = int(query.get("limit", default))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer", param="limit") from exc
    if not 1 <= value <= high:
        raise ApiError(400, f"limit must be between 1 and {high}", param="limit")
    return value


class _Handler(BaseHTTPRequestHandler):
    server: StandinServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record: dict[str, Any] = {"method": method, "path": path, "query": query, "body": None}
        if raw and (self.headers.get("Content-Type") or "").startswith(JSON):
            record["body"] = json.loads(raw)

        with state.lock:
            for index, fault in enumerate(state.faults.statuses):
                f_method, prefix, status, headers = fault[:4]
                if f_method == method and path.startswith("/v1" + prefix):
                    del state.faults.statuses[index]
                    code = fault[4] if len(fault) > 4 else None
                    message = FAULT_MESSAGES.get(code) or (
                        "The server is overloaded." if status >= 500 else "Rate limit reached."
                    )
                    body = {
                        "error": {"message": message, "type": "server_error", "param": None, "code": code}
                    }
                    record.update(status=status, response=body, fault="status")
                    state.requests.append(record)
                    self._send(status, body, headers)
                    return
            drop = self._take(state.faults.drop_after_handling, method, path)
            delay = self._take(state.faults.delay_after_handling, method, path)

        if (
            not self.headers.get("Authorization", "").startswith("Bearer ")
            or self.headers["Authorization"].strip() == "Bearer"
        ):
            status, body = (
                401,
                {
                    "error": {
                        "message": "You didn't provide an API key.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        else:
            try:
                with state.lock:
                    status, body = self._route(method, path, query, raw, record)
            except ApiError as exc:
                status, body = exc.status, exc.body
            except Exception as exc:  # a stand-in bug answers like OpenAI's own 500s, not a dropped socket
                logger.exception("stand-in failed on %s %s", method, path)
                status, body = (
                    500,
                    {
                        "error": {
                            "message": f"stand-in error: {exc}",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    },
                )
        record.update(status=status, response=body if isinstance(body, dict) else None)
        if isinstance(body, EventStream):
            record["stream"] = body.chunks
        with state.lock:
            state.requests.append(record)
        if drop is not None:
            # The request took effect, but the client never hears so: the ambiguous case.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if delay is not None:
            time.sleep(delay[2])
        if isinstance(body, EventStream):
            self._send_events(status, body)
        elif isinstance(body, bytes):
            self._send_bytes(status, body)
        else:
            self._send(status, body)

    @staticmethod
    def _take(entries: list, method: str, path: str):
        for index, entry in enumerate(entries):
            if entry[0] == method and path.startswith("/v1" + entry[1]):
                return entries.pop(index)
        return None

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes, record: dict):
        for r_method, pattern, name in _ROUTES:
            match = pattern.match(path)
            if match and r_method == method:
                return getattr(self, f"_{name}")(query=query, raw=raw, record=record, **match.groupdict())
        raise ApiError(404, f"Invalid URL ({method} {path})", code="unknown_url")

    # -- handlers ------------------------------------------------------------------------------------

    def _json(self, raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(400, "We could not parse the JSON body of your request.") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def _file_create(self, *, raw: bytes, record: dict, **_):
        content_type = self.headers.get("Content-Type", "")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or "purpose" not in fields:
            raise ApiError(400, "Missing required parameter: 'file' or 'purpose'.")
        filename, content = fields["file"]
        purpose = fields["purpose"][1].decode()
        record["body"] = {"purpose": purpose, "file": f"<{len(content)} bytes named {filename}>"}
        return 200, self.server.state.file_create(
            filename=filename or "upload", purpose=purpose, content=content
        )

    def _file_list(self, *, query: dict[str, str], **_):
        state = self.server.state
        files = [f.obj for f in state.files.values()]
        if query.get("purpose"):
            files = [f for f in files if f["purpose"] == query["purpose"]]
        if query.get("order", "desc") == "desc":
            files = files[::-1]
        data, has_more = page_after(files, after=query.get("after"), limit=_limit(query, 10_000, 10_000))
        return 200, {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    def _file_retrieve(self, *, id: str, **_):
        return 200, self.server.state.file_get(id).obj

    def _file_delete(self, *, id: str, **_):
        return 200, self.server.state.file_delete(id)

    def _file_content(self, *, id: str, **_):
        return 200, self.server.state.file_content(id)

    def _job_create(self, *, raw: bytes, **_):
        state = self.server.state
        stored = state.job_create(self._json(raw))
        return 200, state.job_public(state.jobs[stored["id"]])

    def _job_list(self, *, query: dict[str, str], **_):
        state = self.server.state
        wanted = {k[len("metadata[") : -1]: v for k, v in query.items() if k.startswith("metadata[")}
        jobs = [s for s in reversed(state.jobs.values())]
        if wanted:
            jobs = [
                s for s in jobs if all((s.obj.get("metadata") or {}).get(k) == v for k, v in wanted.items())
            ]
        public = [state.job_public(s) for s in jobs]
        data, has_more = page_after(public, after=query.get("after"), limit=_limit(query, 20, 100))
        return 200, {"object": "list", "data": data, "has_more": has_more}

    def _job_retrieve(self, *, id: str, **_):
        state = self.server.state
        return 200, state.job_public(state.job_get(id))

    def _job_cancel(self, *, id: str, **_):
        state = self.server.state
        state.job_cancel(id)
        return 200, state.job_public(state.jobs[id])

    def _job_pause(self, *, id: str, **_):
        state = self.server.state
        state.job_pause(id)
        return 200, state.job_public(state.jobs[id])

    def _job_resume(self, *, id: str, **_):
        state = self.server.state
        state.job_resume(id)
        return 200, state.job_public(state.jobs[id])

    def _event_list(self, *, id: str, query: dict[str, str], **_):
        stored = self.server.state.job_get(id)
        data, has_more = page_after(
            stored.events[::-1], after=query.get("after"), limit=_limit(query, 20, 100)
        )
        return 200, {"object": "list", "data": data, "has_more": has_more}

    def _checkpoint_list(self, *, id: str, query: dict[str, str], **_):
        stored = self.server.state.job_get(id)
        items = stored.checkpoints[::-1]
        data, has_more = page_after(items, after=query.get("after"), limit=_limit(query, 10, 100))
        return 200, {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }

    def _grader_validate(self, *, raw: bytes, **_):
        grader = self._json(raw).get("grader")
        problems = grader_problems(grader)
        if problems:
            raise ApiError(400, "Invalid grader: " + "; ".join(problems), param="grader")
        return 200, {"grader": grader}

    def _model_list(self, **_):
        return 200, {"object": "list", "data": self.server.state.models()}

    def _model_retrieve(self, *, id: str, **_):
        for model in self.server.state.models():
            if model["id"] == id:
                return 200, model
        raise ApiError(404, f"The model '{id}' does not exist", param="model", code="model_not_found")

    def _chat_completion(self, *, raw: bytes, **_):
        return 200, chat_completion(self.server.state, self._json(raw))

    def _batch_create(self, *, raw: bytes, **_):
        state = self.server.state
        return 200, batches.public(batches.batch_create(state, self._json(raw)))

    def _batch_list(self, *, query: dict[str, str], **_):
        state = self.server.state
        items = [batches.public(batches.batch_get(state, i, _batch_answer)) for i in reversed(state.batches)]
        data, has_more = page_after(items, after=query.get("after"), limit=_limit(query, 20, 100))
        ends = {"first_id": data[0]["id"], "last_id": data[-1]["id"]} if data else {}
        return 200, {"object": "list", "data": data, **ends, "has_more": has_more}

    def _batch_retrieve(self, *, id: str, **_):
        return 200, batches.public(batches.batch_get(self.server.state, id, _batch_answer))

    def _batch_cancel(self, *, id: str, **_):
        return 200, batches.public(batches.batch_cancel(self.server.state, id))

    # -- wire ----------------------------------------------------------------------------------------

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", "req_" + secrets.token_hex(8))
        self.send_header("openai-version", "2020-10-01")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_events(self, status: int, stream: EventStream) -> None:
        """Server-sent events as OpenAI streams them: one ``data: {chunk}`` per event, then
        ``data: [DONE]``, each written and flushed as its own HTTP chunk."""
        self.send_response(status)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", "req_" + secrets.token_hex(8))
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in stream.chunks] + ["data: [DONE]\n\n"]
        for index, event in enumerate(events):
            if index and self.server.state.stream_chunk_delay:
                time.sleep(self.server.state.stream_chunk_delay)
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_bytes(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class EventStream:
    """A streamed answer: the chunks to send as server-sent events."""

    def __init__(self, chunks: list[dict[str, Any]]):
        self.chunks = chunks


def chat_completion(state: StandinState, body: dict[str, Any]) -> dict[str, Any] | EventStream:
    """A chat completion as OpenAI answers it: streamed or whole, a refusal or a filtered answer when
    the test asked for one (faults.refuse_containing, faults.filter_containing)."""
    model = body.get("model", "")
    state.chat_model_check(model)
    _chat_params_check(body)
    messages = body.get("messages") or [{}]
    last = str(messages[-1].get("content", ""))
    pieces, finish_reason = _answer_pieces(
        f"(stand-in answer from {model}) You said: {last[:200]}",
        stop=body.get("stop"),
        limit=body.get("max_completion_tokens") or body.get("max_tokens"),
    )
    refusal = None
    if any(marker in last for marker in state.faults.refuse_containing):
        pieces, finish_reason, refusal = [], "stop", "I'm sorry, I can't help with that."
    elif any(marker in last for marker in state.faults.filter_containing):
        pieces, finish_reason = [], "content_filter"
    usage = {
        "prompt_tokens": sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1,
        "completion_tokens": len(pieces) + (8 if refusal else 0),
        "total_tokens": 0,
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    head = {"id": "chatcmpl-" + secrets.token_hex(12), "created": state.now, "model": model}
    if body.get("stream"):
        return _chat_chunks(
            head,
            pieces,
            finish_reason,
            usage=usage if (body.get("stream_options") or {}).get("include_usage") else None,
            refusal=refusal,
        )
    return {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None if refusal else "".join(pieces),
                    "refusal": refusal,
                },
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def _batch_answer(state: StandinState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        answer = chat_completion(state, {**body, "stream": False})
    except ApiError as exc:
        return exc.status, exc.body
    assert isinstance(answer, dict)  # noqa: S101 - a non-streamed answer is a dict
    return 200, answer


def _chat_params_check(body: dict[str, Any]) -> None:
    """The request checks of OpenAI's chat completions that a client of the stand-in can trip."""
    for key, low, high in (
        ("temperature", 0, 2),
        ("top_p", 0, 1),
        ("presence_penalty", -2, 2),
        ("frequency_penalty", -2, 2),
    ):
        value = body.get(key)
        if value is not None and not (isinstance(value, int | float) and low <= value <= high):
            raise ApiError(
                400, f"Invalid '{key}': expected a number between {low} and {high}, got {value!r}.", param=key
            )
    stop = body.get("stop")
    if isinstance(stop, list) and len(stop) > 4:
        raise ApiError(
            400,
            "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array "
            f"with length {len(stop)} instead.",
            param="stop",
        )
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1.")


def _answer_pieces(answer: str, *, stop, limit) -> tuple[list[str], str]:
    """The answer as tokens (a word and its trailing space each), cut at a stop sequence or the token
    limit, with the finish reason OpenAI would give."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cut = min((answer.find(s) for s in stops if s and s in answer), default=-1)
    if cut >= 0:
        answer = answer[:cut]
    pieces = re.findall(r"\S+\s*|\s+", answer)
    if limit is not None and len(pieces) > int(limit):
        return pieces[: int(limit)], "length"
    return pieces, "stop"


def _chat_chunks(
    head: dict[str, Any],
    pieces: list[str],
    finish_reason: str,
    *,
    usage: dict[str, int] | None,
    refusal: str | None = None,
) -> EventStream:
    """chat.completion.chunk objects: the role, one chunk per token, the finish, then the usage chunk
    (empty choices) when the request asked for it; every other chunk then carries ``usage: null``."""

    def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        extra = {"usage": None} if usage is not None else {}
        return {**head, "object": "chat.completion.chunk", "choices": [choice], **extra}

    chunks = [chunk({"role": "assistant", "content": ""}, None)]
    chunks += [chunk({"content": piece}, None) for piece in pieces]
    if refusal:
        chunks.append(chunk({"refusal": refusal}, None))
    chunks.append(chunk({}, finish_reason))
    if usage is not None:
        chunks.append({**head, "object": "chat.completion.chunk", "choices": [], "usage": usage})
    return EventStream(chunks)


def grader_problems(grader: Any) -> list[str]:
    """The grader shape checks OpenAI's validate endpoint makes (the ones we know of)."""
    if not isinstance(grader, dict):
        return ["the grader must be a JSON object"]
    kind = grader.get("type")
    if kind not in GRADER_TYPES:
        return [f"unknown grader type {kind!r}"]
    required = {
        "string_check": ("name", "input", "reference", "operation"),
        "text_similarity": ("name", "input", "reference", "evaluation_metric"),
        "score_model": ("name", "model", "input"),
        "label_model": ("name", "model", "input", "labels", "passing_labels"),
        "python": ("name", "source"),
        "multi": ("name", "graders", "calculate_output"),
    }[kind]
    problems = [f"{kind} needs '{key}'" for key in required if key not in grader]
    if kind == "string_check" and grader.get("operation") not in (None, "eq", "ne", "like", "ilike"):
        problems.append("operation must be eq, ne, like or ilike")
    if kind == "multi" and isinstance(grader.get("graders"), dict):
        for key, sub in grader["graders"].items():
            problems += [f"{key}: {p}" for p in grader_problems(sub)]
    return problems
