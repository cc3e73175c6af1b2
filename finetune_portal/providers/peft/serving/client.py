"""The portal's way to the local provider's model server: chats streamed over a kept-alive connection
(``chat_http``), adapters loaded with the ``openai`` SDK.

The server is vLLM's OpenAI-compatible one when ``VLLM_BASE_URL`` is set, else the embedded server
(``python manage.py serve_models``, ``LOCAL_INFERENCE_URL``); both speak the same endpoints. An adapter is
loaded at the server (``/v1/load_lora_adapter``) the first time its name is asked for; a server that
answers "does not exist" later (it was restarted) gets it loaded again, once.

Light on imports: the web process runs this, and never imports torch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
from django.core.files.storage import default_storage

from finetune_portal.core.storage import storage_folder_download
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings, with_system_prompt
from finetune_portal.providers.peft import conf
from finetune_portal.providers.peft.serving.chat_http import (
    ChatRefused,
    ChatStream,
    ChatUnreachable,
    chat_stream_open,
)

_lock = threading.Lock()
# Per server URL, the adapter names this process knows are loaded there.
_loaded: dict[str, set[str]] = {}
_clients: dict[tuple[str, str, float], openai.OpenAI] = {}


@dataclass(frozen=True)
class EngineServer:
    base_url: str
    api_key: str
    vllm: bool

    @property
    def unreachable(self) -> str:
        if self.vllm:
            return (
                f"The vLLM server at {self.base_url} (VLLM_BASE_URL) is not answering: start it "
                "(`docker compose --profile gpu up -d vllm`) or unset VLLM_BASE_URL to use the embedded "
                "model server."
            )
        return (
            f"The model server at {self.base_url} is not answering: start it with "
            "`python manage.py serve_models` or set VLLM_BASE_URL"
        )


def engine_server() -> EngineServer:
    """vLLM's server when one is configured (it takes precedence), else the embedded one."""
    vllm = conf.vllm_base_url()
    if vllm:
        return EngineServer(vllm, conf.vllm_api_key(), vllm=True)
    return EngineServer(conf.local_inference_url(), "", vllm=False)


def engine_chat_stream(
    *, model_name: str, base_model: str, adapter_uri: str, messages: list[dict], settings: ChatSettings
) -> Iterator[ChatDelta | ChatDone]:
    """The answer of the model server, piece by piece, ending with one ChatDone.

    ``adapter_uri`` (a storage URI) names a local adapter or full fine-tune, served under ``model_name``;
    without one, ``base_model`` is asked. Errors are ProviderErrors with the server's words.
    """
    server = engine_server()
    messages = with_system_prompt(messages, settings)
    engine_model = model_name if adapter_uri else (base_model or model_name)
    if adapter_uri:
        _adapter_ensure(server, name=model_name, uri=adapter_uri, base_model=base_model)
    try:
        stream = _open_stream(server, engine_model, messages, settings)
    except ChatRefused as exc:
        if exc.status != 404:
            raise _refused(server, exc) from exc
        if not adapter_uri:
            raise _not_found(server, exc) from exc
        # The server forgot the adapter (it restarted since this process loaded it): load it again.
        _adapter_forget(server, model_name)
        _adapter_ensure(server, name=model_name, uri=adapter_uri, base_model=base_model)
        try:
            stream = _open_stream(server, engine_model, messages, settings)
        except ChatRefused as again:
            raise (_not_found(server, again) if again.status == 404 else _refused(server, again)) from again
    yield from _events(server, stream)


def _client(server: EngineServer) -> openai.OpenAI:
    timeout = conf.inference_timeout_seconds()
    key = (server.base_url, server.api_key, timeout)
    with _lock:
        client = _clients.get(key)
        if client is None:
            # Retries stay off: a chat is interactive, and an adapter load is not to be sent twice blindly.
            client = openai.OpenAI(
                base_url=server.base_url,
                api_key=server.api_key or "not-needed",
                timeout=openai.Timeout(timeout, connect=5.0),
                max_retries=0,
            )
            _clients[key] = client
    return client


def _request_settings(settings: ChatSettings) -> dict[str, Any]:
    values = {
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "max_tokens": settings.max_tokens,
        "seed": settings.seed,
        "presence_penalty": settings.presence_penalty,
        "frequency_penalty": settings.frequency_penalty,
        "stop": list(settings.stop) or None,
    }
    return {name: value for name, value in values.items() if value is not None}


def _open_stream(
    server: EngineServer, model: str, messages: list[dict], settings: ChatSettings
) -> ChatStream:
    body = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        **_request_settings(settings),
    }
    try:
        return chat_stream_open(
            base_url=server.base_url,
            api_key=server.api_key,
            body=body,
            timeout=conf.inference_timeout_seconds(),
        )
    except ChatUnreachable as exc:
        raise ProviderError(server.unreachable, permanent=False, code="engine_unreachable") from exc


def _events(server: EngineServer, stream: ChatStream) -> Iterator[ChatDelta | ChatDone]:
    finish_reason, usage = "stop", None
    try:
        with stream:
            for chunk in stream:
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        yield ChatDelta(content)
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
    except ChatRefused as exc:
        raise _refused(server, exc) from exc
    except ChatUnreachable as exc:
        raise ProviderError(server.unreachable, permanent=False, code="engine_unreachable") from exc
    yield ChatDone(
        finish_reason=finish_reason,
        prompt_tokens=usage.get("prompt_tokens") if usage else None,
        completion_tokens=usage.get("completion_tokens") if usage else None,
    )


def _refused(server: EngineServer, exc: ChatRefused) -> ProviderError:
    return ProviderError(
        f"The model server refused: {exc.message}",
        permanent=bool(exc.status and exc.status < 500),
        code="engine_refused",
    )


def _not_found(server: EngineServer, exc: ChatRefused) -> ProviderError:
    hint = (
        "vLLM serves the one base model it was started with (--model) and the adapters loaded on it."
        if server.vllm
        else "The embedded server serves demo:tiny, demo:smollm2-135m, cached Hugging Face models and "
        "local folders."
    )
    return ProviderError(exc.message, permanent=True, hint=hint, code="model_not_found")


def _message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


# -- adapters ---------------------------------------------------------------------------------------------


def _adapter_ensure(server: EngineServer, *, name: str, uri: str, base_model: str) -> None:
    with _lock:
        if name in _loaded.get(server.base_url, set()):
            return
    body = {"lora_name": name, "lora_path": adapter_local_path(uri)}
    if not server.vllm and base_model:
        body["base_model"] = base_model  # the embedded server's fallback when the recorded base is elsewhere
    try:
        _client(server).post("/load_lora_adapter", body=body, cast_to=str)
    except openai.APIConnectionError as exc:
        raise ProviderError(server.unreachable, permanent=False, code="engine_unreachable") from exc
    except openai.APIStatusError as exc:
        # Another portal process (or a previous life of this one) loaded it already: it is there.
        if not (exc.status_code == 400 and "already been loaded" in _message(exc)):
            raise ProviderError(
                f"The model server could not load the adapter {name}: {_message(exc)}",
                permanent=True,
                code="adapter_load_failed",
            ) from exc
    with _lock:
        _loaded.setdefault(server.base_url, set()).add(name)


def _adapter_forget(server: EngineServer, name: str) -> None:
    with _lock:
        _loaded.get(server.base_url, set()).discard(name)


def adapter_local_path(uri: str) -> str:
    """A folder the model server can read holding the adapter stored under ``uri``.

    Filesystem storage: the stored folder itself (the vLLM container mounts the same media volume at the
    same path). Object storage: a copy downloaded once into INFERENCE_ADAPTER_CACHE.
    """
    try:
        folder = Path(default_storage.path(uri))
    except NotImplementedError:
        return str(_download(uri))
    if not folder.is_dir():
        raise _missing(uri)
    return str(folder)


def _download(uri: str) -> Path:
    cache = conf.inference_adapter_cache_dir()
    target = cache / hashlib.sha256(uri.encode()).hexdigest()[:32]
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        if not storage_folder_download(uri, scratch):
            raise _missing(uri)
        try:
            os.replace(scratch, target)
        except OSError:
            if not target.is_dir():  # else another process finished the same download first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _missing(uri: str) -> ProviderError:
    return ProviderError(
        f"The adapter's files are no longer in storage ({uri}).", permanent=True, code="adapter_missing"
    )
