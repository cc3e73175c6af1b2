"""The embedded engine: base models kept warm in a memory-bounded LRU, LoRA adapters attached to their base
by name, and generation with transformers, streamed piece by piece.

GPU worker host only: torch, transformers and peft are imported inside the functions. Adapters over one
base share its weights (one PeftModel holding every adapter, switched per request, as vLLM shares a base);
a full fine-tune is a model of its own. One generation runs at a time per loaded model (its lock); different
models generate in parallel.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.serving.errors import EngineError
from finetune_portal.providers.peft.serving.generation import (
    Answer,
    GenerationRequest,
    answer_stream,
    sampling_arguments,
)
from finetune_portal.providers.peft.serving.loading import (
    Loaded,
    demo_names,
    free_memory,
    model_bytes,
    model_folder,
    model_load,
    tokenizer_load,
)


@dataclass(eq=False)
class _Adapter:
    name: str
    path: str
    full: bool  # a full fine-tune folder (a model of its own), else a LoRA adapter on ``base_folder``
    base_folder: str
    peft_name: str
    tokenizer: Any = None
    created: int = 0


class Engine:
    def __init__(
        self,
        *,
        cache_dir: Path,
        max_models: int = 2,
        max_bytes: int | None = None,
        default_max_tokens: int = 512,
        stream_interval: float = 0.015,
    ):
        self.cache_dir = Path(cache_dir)
        self.max_models = max(1, max_models)
        self.max_bytes = max_bytes or None
        self.default_max_tokens = default_max_tokens
        self.stream_interval = stream_interval
        self._lock = threading.Lock()  # guards the dictionaries below, never held while loading or generating
        self._lru: OrderedDict[str, Loaded] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._bases: dict[str, str] = {}  # base model name -> folder
        self._adapters: dict[str, _Adapter] = {}
        self._adapter_count = 0
        # The global RNG is shared by every thread: a seeded sampling run holds this so another one cannot
        # draw from it in between and make the seed meaningless.
        self._seeded = threading.Lock()

    # -- what the server lists and loads ---------------------------------------------------------------

    def model_cards(self) -> list[dict[str, Any]]:
        with self._lock:
            names = dict.fromkeys([*demo_names(), *self._bases])
            adapters = list(self._adapters.values())
            folder_names = {folder: name for name, folder in self._bases.items()}
        cards = [
            {"id": name, "object": "model", "created": 0, "owned_by": "finetune-portal"} for name in names
        ]
        for adapter in adapters:
            parent = None if adapter.full else folder_names.get(adapter.base_folder, adapter.base_folder)
            cards.append(
                {
                    "id": adapter.name,
                    "object": "model",
                    "created": adapter.created,
                    "owned_by": "finetune-portal",
                    "root": adapter.path,
                    "parent": parent,
                }
            )
        return cards

    def loaded_folders(self) -> list[str]:
        """The warm models, least recently used first."""
        with self._lock:
            return list(self._lru)

    def is_adapter_attached(self, name: str) -> bool:
        with self._lock:
            adapter = self._adapters.get(name)
            entry = self._lru.get(adapter.base_folder) if adapter else None
        return bool(adapter and entry and adapter.peft_name in entry.attached)

    def load_adapter(self, *, name: str, path: str, base_model: str = "") -> None:
        """Register an adapter (or a full fine-tune) under ``name`` and load it now, as vLLM does, so a
        folder that does not fit is refused here rather than at the first chat."""
        if not name or not path:
            raise EngineError("Both 'lora_name' and 'lora_path' must be provided.", type="InvalidUserInput")
        with self._lock:
            if name in self._adapters:
                raise EngineError(
                    f"The lora adapter '{name}' has already been loaded.", type="InvalidUserInput"
                )
            self._adapter_count += 1
            peft_name = f"adapter_{self._adapter_count}"  # peft module keys may not contain "." or "/"
        folder = Path(path)
        if (folder / "adapter_config.json").is_file():
            config = json.loads((folder / "adapter_config.json").read_text())
            adapter = _Adapter(
                name, str(folder), False, self._adapter_base(name, config, base_model), peft_name
            )
        elif (folder / "config.json").is_file():
            adapter = _Adapter(name, str(folder), True, str(folder), peft_name)
        else:
            raise EngineError(
                f"Loading lora {name} failed: No adapter found for {path}", status=404, type="NotFoundError"
            )
        adapter.created = int(time.time())
        if not adapter.full and (folder / "tokenizer_config.json").is_file():
            # Training saves the tokenizer with the chat template it trained on; chats use that one.
            adapter.tokenizer = tokenizer_load(folder)
        entry = self._entry(adapter.base_folder)
        if not adapter.full:
            with entry.lock:
                self._attach(entry, adapter)
        with self._lock:
            if name in self._adapters:
                raise EngineError(
                    f"The lora adapter '{name}' has already been loaded.", type="InvalidUserInput"
                )
            self._adapters[name] = adapter

    def unload_adapter(self, name: str) -> None:
        with self._lock:
            adapter = self._adapters.pop(name, None)
            if adapter is None:
                raise EngineError(
                    f"The lora adapter '{name}' cannot be found.", status=404, type="NotFoundError"
                )
            entry = self._lru.get(adapter.base_folder)
            if entry is not None and (adapter.full or adapter.peft_name in entry.attached):
                # Dropping the warm model frees the adapter's weights; the base's other adapters attach
                # again on their next chat. A generation still running keeps its own reference.
                del self._lru[adapter.base_folder]
        free_memory()

    # -- generation ------------------------------------------------------------------------------------

    def generate(self, model_name: str, request: GenerationRequest) -> Answer:
        """Pieces of the answer as they come, then one ``Finished``.

        Unknown models, prompts too long and the like are refused here, before the first piece, so the
        server can still answer with an error status.
        """
        entry, peft_name, tokenizer = self._target(model_name)
        try:
            encoded = tokenizer.apply_chat_template(
                request.messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
        except Exception as exc:  # a template that cannot render these messages (e.g. no system role)
            raise EngineError(f"The chat template of `{model_name}` refused these messages: {exc}") from exc
        prompt_tokens = int(encoded["input_ids"].shape[1])
        room = entry.context - prompt_tokens
        if room < 1:
            raise EngineError(
                f"This model's maximum context length is {entry.context} tokens. However, your messages "
                f"resulted in {prompt_tokens} tokens.",
                code="context_length_exceeded",
            )
        if request.max_tokens is not None and request.max_tokens > room:
            raise EngineError(
                f"This model's maximum context length is {entry.context} tokens. However, you requested "
                f"{prompt_tokens + request.max_tokens} tokens ({prompt_tokens} in the messages, "
                f"{request.max_tokens} in the completion).",
                code="context_length_exceeded",
            )
        max_new = min(request.max_tokens or self.default_max_tokens, room)
        return self._run(entry, peft_name, tokenizer, encoded, request, max_new)

    def _run(
        self, entry: Loaded, peft_name, tokenizer, encoded, request: GenerationRequest, max_new: int
    ) -> Answer:
        seeded = request.seed is not None and sampling_arguments(request).get("do_sample", True)
        with entry.lock, self._seeded if seeded else nullcontext():
            adapter_choice: AbstractContextManager[Any] | None = None
            if peft_name:
                entry.model.set_adapter(peft_name)
            elif entry.attached:
                adapter_choice = entry.model.disable_adapter()
            yield from answer_stream(
                model=entry.model,
                tokenizer=tokenizer,
                encoded=encoded,
                request=request,
                max_new=max_new,
                interval=self.stream_interval,
                adapter_choice=adapter_choice,
            )

    # -- models and adapters ---------------------------------------------------------------------------

    def _target(self, name: str) -> tuple[Loaded, str | None, Any]:
        with self._lock:
            adapter = self._adapters.get(name)
        if adapter is None:
            entry = self._entry(self._base_folder(name))
            return entry, None, entry.tokenizer
        entry = self._entry(adapter.base_folder)
        if adapter.full:
            return entry, None, entry.tokenizer
        if adapter.peft_name not in entry.attached:
            with entry.lock:
                self._attach(entry, adapter)
        return entry, adapter.peft_name, adapter.tokenizer or entry.tokenizer

    def _base_folder(self, name: str) -> str:
        with self._lock:
            known = self._bases.get(name)
        if known:
            return known
        folder = model_folder(name, cache_dir=self.cache_dir)
        with self._lock:
            self._bases[name] = folder
        return folder

    def _adapter_base(self, name: str, config: dict[str, Any], base_model: str) -> str:
        recorded = str(config.get("base_model_name_or_path") or "")
        # Training records the folder it loaded the base from; on the worker's host that is the exact base,
        # including a job's own tiny demo model.
        if recorded.startswith("/") and (Path(recorded) / "config.json").is_file():
            return recorded
        for candidate in (base_model, recorded):
            if candidate:
                try:
                    return self._base_folder(candidate)
                except EngineError:
                    continue
        raise EngineError(
            f"Loading lora {name} failed: its base model {recorded or base_model!r} is not on this server.",
            status=404,
            type="NotFoundError",
        )

    def _entry(self, folder: str) -> Loaded:
        """The warm model of ``folder``, loaded (and the least recently used evicted) if need be."""
        with self._lock:
            entry = self._lru.get(folder)
            if entry is not None:
                self._lru.move_to_end(folder)
                return entry
            loading = self._loading.setdefault(folder, threading.Lock())
        with loading:  # one load per folder; other models stay available meanwhile
            with self._lock:
                entry = self._lru.get(folder)
                if entry is not None:
                    self._lru.move_to_end(folder)
                    return entry
            entry = model_load(folder)
            with self._lock:
                self._lru[folder] = entry
                self._loading.pop(folder, None)
                self._evict()
        return entry

    def _evict(self) -> None:
        """Drop the least recently used models past the bounds; the newest one always stays."""

        def over() -> bool:
            total = sum(entry.nbytes for entry in self._lru.values())
            return len(self._lru) > self.max_models or bool(self.max_bytes and total > self.max_bytes)

        evicted = False
        while len(self._lru) > 1 and over():
            self._lru.popitem(last=False)
            evicted = True
        if evicted:
            free_memory()

    def _attach(self, entry: Loaded, adapter: _Adapter) -> None:
        """Put the adapter's weights into the warm base (the caller holds ``entry.lock``)."""
        from peft import PeftModel

        if adapter.peft_name in entry.attached:
            return
        try:
            with MODEL_BUILD_LOCK:
                if isinstance(entry.model, PeftModel):
                    entry.model.load_adapter(adapter.path, adapter_name=adapter.peft_name)
                else:
                    entry.model = PeftModel.from_pretrained(
                        entry.model, adapter.path, adapter_name=adapter.peft_name
                    )
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            with self._lock:
                # A failed attach may leave half-injected layers: load the base afresh next time.
                if self._lru.get(entry.folder) is entry:
                    del self._lru[entry.folder]
            raise EngineError(
                f"Loading lora {adapter.name} failed: it does not fit the base model in {entry.folder} "
                f"({type(exc).__name__}: {str(exc)[:300]})"
            ) from exc
        entry.model.eval()
        entry.attached.add(adapter.peft_name)
        entry.nbytes = model_bytes(entry.model)
