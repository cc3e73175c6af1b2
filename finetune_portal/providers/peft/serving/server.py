"""The embedded engine's HTTP face: the endpoints vLLM's OpenAI-compatible server speaks, so the portal's
client talks to either the same way.

``GET /v1/models``, ``POST /v1/chat/completions`` (streaming as Server-Sent Events in OpenAI's wire format,
or not), ``POST /v1/load_lora_adapter``, ``POST /v1/unload_lora_adapter``, ``GET /health``.

The standard library's ThreadingHTTPServer: a thread per connection serves several clients at once, the
work is in the model (which releases the GIL), and the routes are few, so a framework would add a
dependency and an event loop to bridge into the blocking generate() for nothing.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from finetune_portal.providers.peft.serving.engine import Engine
from finetune_portal.providers.peft.serving.errors import EngineError
from finetune_portal.providers.peft.serving.generation import Finished, GenerationRequest

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_STOPS = 4
ROLES = {"system", "user", "assistant", "developer"}


class EngineServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, engine: Engine, address: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(address, _Handler)
        self.engine = engine
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}/v1"

    def start_in_thread(self) -> EngineServer:
        self._thread = threading.Thread(target=self.serve_forever, name="model-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _error_body(message: str, *, type: str, code: str | int | None = None, param: str | None = None):
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise EngineError(f"{name} must be a number from {low:g} to {high:g}; got {value!r}.")
    return float(value)


def _integer(body: dict[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EngineError(f"{name} must be an integer of at least {low}; got {value!r}.")
    return value


def _content(message: dict[str, Any], index: int) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    raise EngineError(f"messages[{index}].content must be text (a string or text parts).")


def chat_request_parse(body: Any) -> tuple[str, GenerationRequest]:
    """The model name and what to generate, or EngineError (400) saying what is wrong."""
    if not isinstance(body, dict):
        raise EngineError("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EngineError("you must provide a model parameter")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise EngineError("messages must be a non-empty list of chat messages.")
    messages = []
    for index, message in enumerate(raw_messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise EngineError(f"messages[{index}] needs a role among {', '.join(sorted(ROLES))}.")
        role = "system" if message["role"] == "developer" else message["role"]
        messages.append({"role": role, "content": _content(message, index)})
    if (body.get("n") or 1) != 1:
        raise EngineError("n must be 1: this engine answers one choice per request.")
    for name in ("presence_penalty", "frequency_penalty"):
        # transformers has only repetition_penalty, which divides logits by a factor: not the same as
        # OpenAI's additive penalties, so it is refused rather than passed off as one of them.
        if body.get(name):
            raise EngineError(
                f"{name} is not supported by the embedded engine (transformers has no equivalent); "
                "leave it unset, or serve this model with vLLM (VLLM_BASE_URL).",
                code="unsupported_parameter",
            )
    for name in ("tools", "logprobs", "response_format"):
        if body.get(name):
            raise EngineError(
                f"{name} is not supported by the embedded engine.", code="unsupported_parameter"
            )
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        stops = tuple(stop)
    else:
        raise EngineError("stop must be a string or a list of strings.")
    if len(stops) > MAX_STOPS:
        raise EngineError(f"stop takes at most {MAX_STOPS} sequences; got {len(stops)}.")
    max_tokens = _integer(body, "max_completion_tokens", 1) or _integer(body, "max_tokens", 1)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise EngineError(f"seed must be an integer; got {seed!r}.")
    top_p = _number(body, "top_p", 0, 1)
    if top_p == 0:
        raise EngineError("top_p must be above 0.")
    return model, GenerationRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0, 2),
        top_p=top_p,
        stop=tuple(item for item in stops if item),
        seed=seed,
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EngineServer

    def setup(self) -> None:
        super().setup()
        # Each streamed piece is a small write: without this, Nagle's algorithm holds it back.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send_json(200, {"object": "list", "data": self.server.engine.model_cards()})
        elif path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, _error_body(f"No route GET {path}.", type="NotFoundError", code=404))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        routes = {
            "/v1/chat/completions": self._chat,
            "/v1/load_lora_adapter": self._load_adapter,
            "/v1/unload_lora_adapter": self._unload_adapter,
        }
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_json(413, _error_body("The request body is too large.", type="invalid_request_error"))
            return
        raw = self.rfile.read(length) if length else b""
        route = routes.get(path)
        if route is None:
            self._send_json(404, _error_body(f"No route POST {path}.", type="NotFoundError", code=404))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error_body("The body is not valid JSON.", type="invalid_request_error"))
            return
        try:
            route(body)
        except EngineError as exc:
            self._send_json(exc.status, _error_body(exc.message, type=exc.type, code=exc.code or exc.status))
        except Exception:
            logger.exception("The model server failed on %s", path)
            self._send_json(
                500, _error_body("The model server failed; see its log.", type="InternalServerError")
            )

    def _load_adapter(self, body: dict[str, Any]) -> None:
        name, path = str(body.get("lora_name") or ""), str(body.get("lora_path") or "")
        # "base_model" is this server's own addition, a fallback when the adapter's recorded base
        # folder is not on this host; vLLM serves one base and has no such field.
        self.server.engine.load_adapter(name=name, path=path, base_model=str(body.get("base_model") or ""))
        self._send_text(200, f"Success: LoRA adapter '{name}' added successfully.")

    def _unload_adapter(self, body: dict[str, Any]) -> None:
        name = str(body.get("lora_name") or "")
        self.server.engine.unload_adapter(name)
        self._send_text(200, f"Success: LoRA adapter '{name}' removed successfully.")

    def _chat(self, body: dict[str, Any]) -> None:
        model, request = chat_request_parse(body)
        events = self.server.engine.generate(model, request)
        answer = {"id": f"chatcmpl-{secrets.token_hex(12)}", "created": int(time.time()), "model": model}
        try:
            if body.get("stream"):
                options = body.get("stream_options") or {}
                self._stream(answer, events, include_usage=bool(options.get("include_usage")))
            else:
                self._complete(answer, events)
        finally:
            events.close()  # releases the model at once when the client went away mid-answer

    def _complete(self, answer: dict[str, Any], events) -> None:
        pieces: list[str] = []
        finished: Finished | None = None
        for event in events:
            if isinstance(event, Finished):
                finished = event
            else:
                pieces.append(event)
        assert finished is not None  # noqa: S101 (the engine always ends with one)
        message = {"role": "assistant", "content": "".join(pieces)}
        choice = {"index": 0, "message": message, "finish_reason": finished.finish_reason, "logprobs": None}
        self._send_json(
            200, {**answer, "object": "chat.completion", "choices": [choice], "usage": _usage(finished)}
        )

    def _stream(self, answer: dict[str, Any], events, *, include_usage: bool) -> None:
        base = {**answer, "object": "chat.completion.chunk"}
        extra = {"usage": None} if include_usage else {}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            return {**base, "choices": [choice], **extra}

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._event(chunk({"role": "assistant", "content": ""}))
            try:
                for event in events:
                    if isinstance(event, Finished):
                        self._event(chunk({}, event.finish_reason))
                        if include_usage:
                            self._event({**base, "choices": [], "usage": _usage(event)})
                    else:
                        self._event(chunk({"content": event}))
            except EngineError as exc:  # after the 200: OpenAI's way is an error event in the stream
                self._event(_error_body(exc.message, type=exc.type, code=exc.code or exc.status))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _usage(finished: Finished) -> dict[str, int]:
    return {
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": finished.completion_tokens,
        "total_tokens": finished.prompt_tokens + finished.completion_tokens,
    }
