"""The stand-in's HTTP server (see the package docstring: this is not vLLM)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class VllmStandin(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0), *, base_model: str = "base-model"):
        super().__init__(address, _Handler)
        self.base_model = base_model
        self.adapters: dict[str, str] = {}  # lora_name -> lora_path
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, body) as received
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start_in_thread(self) -> VllmStandin:
        threading.Thread(target=self.serve_forever, name="vllm-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def restart(self) -> None:
        """What a vLLM restart does to runtime-loaded adapters: they are gone."""
        with self.lock:
            self.adapters.clear()

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [body for _, called, body in self.requests if called == path]

    def answer_words(self, model: str, messages: list[dict[str, Any]]) -> list[str]:
        last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        return f"[{model}] You said: {last}".split(" ")


def _error(message: str, type: str, code: int) -> dict[str, Any]:
    # vLLM's ErrorResponse (recent versions): OpenAI's shape with the HTTP status as the code.
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: VllmStandin

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, {}))
        if self.path.rstrip("/") != "/v1/models":
            self._json(404, _error("Not Found", "NotFoundError", 404))
            return
        cards = [
            {
                "id": self.server.base_model,
                "object": "model",
                "owned_by": "vllm",
                "root": self.server.base_model,
            }
        ]
        with self.server.lock:
            for name, path in self.server.adapters.items():
                cards.append(
                    {
                        "id": name,
                        "object": "model",
                        "owned_by": "vllm",
                        "root": path,
                        "parent": self.server.base_model,
                    }
                )
        self._json(200, {"object": "list", "data": cards})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        path = self.path.rstrip("/")
        self.server.requests.append(("POST", path, body))
        handler = {
            "/v1/chat/completions": self._chat,
            "/v1/load_lora_adapter": self._load,
            "/v1/unload_lora_adapter": self._unload,
        }.get(path)
        if handler is None:
            self._json(404, _error("Not Found", "NotFoundError", 404))
        else:
            handler(body)

    def _load(self, body: dict[str, Any]) -> None:
        name, path = body.get("lora_name"), body.get("lora_path")
        if not name or not path:
            self._json(
                400, _error("Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400)
            )
            return
        with self.server.lock:
            if name in self.server.adapters:
                self._json(
                    400,
                    _error(f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput", 400),
                )
                return
            if not (Path(path) / "adapter_config.json").is_file():
                message = f"Loading lora {name} failed: No adapter found for {path}"
                self._json(404, _error(message, "NotFoundError", 404))
                return
            self.server.adapters[name] = path
        self._text(200, f"Success: LoRA adapter '{name}' added successfully.")

    def _unload(self, body: dict[str, Any]) -> None:
        name = body.get("lora_name")
        with self.server.lock:
            if name not in self.server.adapters:
                self._json(404, _error(f"The lora adapter '{name}' cannot be found.", "NotFoundError", 404))
                return
            del self.server.adapters[name]
        self._text(200, f"Success: LoRA adapter '{name}' removed successfully.")

    def _chat(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        with self.server.lock:
            known = model == self.server.base_model or model in self.server.adapters
        if not known:
            self._json(404, _error(f"The model `{model}` does not exist.", "NotFoundError", 404))
            return
        words = self.server.answer_words(model, body.get("messages") or [])
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        pieces = [word if i == 0 else " " + word for i, word in enumerate(words)]
        text = "".join(pieces)
        for stop in body.get("stop") or []:
            if stop and stop in text:
                text, finish = text[: text.index(stop)], "stop"
        usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            self._json(200, {**head, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {**head, "object": "chat.completion.chunk", "choices": choices, **extra}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        sent = ""
        for piece in pieces:
            piece = piece[: max(0, len(text) - len(sent))]
            if piece:
                sent += piece
                event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            event([], usage=usage)
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _text(self, status: int, text: str) -> None:
        # vLLM answers a successful load or unload with a plain-text sentence, not JSON.
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
