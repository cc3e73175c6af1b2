"""The embedded engine: base models kept warm in a memory-bounded LRU, LoRA adapters attached to their base
by name, and generation with transformers, streamed piece by piece.

GPU worker host only: torch, transformers and peft are imported inside the functions. Adapters over one
base share its weights (one PeftModel holding every adapter, switched per request, as vLLM shares a base);
a full fine-tune is a model of its own. One generation runs at a time per loaded model (its lock); different
models generate in parallel.
"""

from __future__ import annotations

import gc
import json
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.base_models import BaseModelError, SourceKind, base_model_parse
from finetune_portal.providers.peft.serving.stops import split_at_stop, split_safe_prefix

# The generic `demo:tiny` that the server answers with when asked for it by name. A job's own tiny model is
# trained on the job's data; its adapters go onto that one (named in their adapter_config.json).
DEMO_CORPUS = [
    "Hello! How can I help you today?",
    "The sky is blue and the grass is green.",
    "What colour is the item? The item is red.",
    "Thank you, that answers my question.",
]


class EngineError(Exception):
    """A request the engine refuses: the HTTP status and the fields of OpenAI's error object."""

    def __init__(
        self, message: str, *, status: int = 400, type: str = "invalid_request_error", code: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code


def model_not_found(name: str, why: str = "") -> EngineError:
    return EngineError(
        f"The model `{name}` does not exist.{' ' + why if why else ''}", status=404, code="model_not_found"
    )


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Finished:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


# What generate() returns: pieces of text, then one Finished; close() it to stop early.
Answer = Generator["str | Finished", None, None]


@dataclass(eq=False)
class _Loaded:
    folder: str
    model: Any
    tokenizer: Any
    nbytes: int
    context: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    attached: set[str] = field(default_factory=set)  # peft adapter names inside ``model``


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
        self._lru: OrderedDict[str, _Loaded] = OrderedDict()
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
            names = dict.fromkeys([*_demo_names(), *self._bases])
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
            adapter.tokenizer = _tokenizer(folder)
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
        _free_memory()

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

    def _run(self, entry, peft_name, tokenizer, encoded, request, max_new) -> Answer:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        halt = threading.Event()

        class _Halt(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool)

        sampling = _sampling(request)
        seeded = request.seed is not None and sampling.get("do_sample", True)
        with entry.lock, self._seeded if seeded else nullcontext():
            model = entry.model
            adapter_choice: Any = nullcontext()
            if peft_name:
                model.set_adapter(peft_name)
            elif entry.attached:
                adapter_choice = model.disable_adapter()
            streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
            device = next(model.parameters()).device
            inputs = {key: value.to(device) for key, value in encoded.items()}
            outcome: dict[str, Any] = {}

            def work() -> None:
                try:
                    with torch.inference_mode(), adapter_choice:
                        if request.seed is not None:
                            torch.manual_seed(request.seed)
                        outcome["ids"] = model.generate(
                            **inputs,
                            max_new_tokens=max_new,
                            streamer=streamer,
                            stopping_criteria=StoppingCriteriaList([_Halt()]),
                            pad_token_id=tokenizer.pad_token_id,
                            **sampling,
                        )
                except Exception as exc:
                    outcome["error"] = exc
                    streamer.end()  # the reader would otherwise wait for pieces forever

            worker = threading.Thread(target=work, name="generate", daemon=True)
            worker.start()
            pending, stopped = "", False
            try:
                for piece in _pieces(streamer, self.stream_interval):
                    pending += piece
                    before, stopped = split_at_stop(pending, request.stop)
                    if stopped:
                        pending = ""
                        if before:
                            yield before
                        break
                    ready, pending = split_safe_prefix(pending, request.stop)
                    if ready:
                        yield ready
            finally:
                halt.set()
                worker.join()
            if "error" in outcome:
                raise EngineError(
                    f"Generation failed: {type(outcome['error']).__name__}: {outcome['error']}",
                    status=500,
                    type="InternalServerError",
                )
            if pending:
                yield pending
            new_ids = outcome["ids"][0, inputs["input_ids"].shape[1] :]
            eos = model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos])
            ended = stopped or (len(new_ids) and int(new_ids[-1]) in eos_ids) or len(new_ids) < max_new
            yield Finished("stop" if ended else "length", int(inputs["input_ids"].shape[1]), len(new_ids))

    # -- models and adapters ---------------------------------------------------------------------------

    def _target(self, name: str) -> tuple[_Loaded, str | None, Any]:
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
        folder = self._resolve(name)
        with self._lock:
            self._bases[name] = folder
        return folder

    def _resolve(self, name: str) -> str:
        try:
            source = base_model_parse(name)
        except BaseModelError as exc:
            raise model_not_found(name) from exc
        if source.kind == SourceKind.DEMO_TINY:
            return str(demo_models.tiny_model_folder(cache_dir=self.cache_dir, texts=DEMO_CORPUS))
        if source.kind == SourceKind.DEMO_SMOLLM2:
            try:
                return str(demo_models.smollm2_folder(cache_dir=self.cache_dir))
            except ProviderError as exc:
                raise model_not_found(name, f"{exc.message} {exc.hint}") from exc
        if source.kind == SourceKind.LOCAL:
            if not (Path(source.value) / "config.json").is_file():
                raise model_not_found(name, "There is no model folder (config.json) there on this server.")
            return source.value
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(source.value, local_files_only=True)
        except Exception as exc:  # not in the cache: the embedded server never downloads
            raise model_not_found(
                name, "It is not in this server's Hugging Face cache (HF_HOME), and it never downloads."
            ) from exc

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

    def _entry(self, folder: str) -> _Loaded:
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
            entry = _load(folder)
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
            _free_memory()

    def _attach(self, entry: _Loaded, adapter: _Adapter) -> None:
        """Put the adapter's weights into the warm base (the caller holds ``entry.lock``)."""
        from peft import PeftModel

        if adapter.peft_name in entry.attached:
            return
        try:
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
        entry.nbytes = _model_bytes(entry.model)


def _pieces(streamer, interval: float) -> Iterator[str]:
    """The streamer's text as generate() makes it. What arrives within ``interval`` seconds of the last
    piece handed on is joined to it: a model faster than the reader (the tiny demo model makes a token
    every couple of milliseconds on a CPU) then costs one HTTP write and one client-side parse per
    interval instead of per token. Slower models still stream token by token; the first piece never waits.
    """
    waiting, end = streamer.text_queue, streamer.stop_signal
    last_sent: float | None = None
    while True:
        piece = waiting.get()
        if piece is end:
            return
        deadline = (last_sent or 0.0) + interval
        while True:
            left = deadline - time.monotonic()
            try:
                more = waiting.get(timeout=left) if left > 0 else waiting.get_nowait()
            except queue.Empty:
                break
            if more is end:
                yield piece
                return
            piece += more
        yield piece
        last_sent = time.monotonic()


def _demo_names() -> list[str]:
    from finetune_portal.providers.peft.base_models import DEMO_SMOLLM2, DEMO_TINY

    names = [DEMO_TINY]
    if demo_models.smollm2_gguf_path() is not None:
        names.append(DEMO_SMOLLM2)
    return names


def _tokenizer(folder: Path | str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = demo_models.CHATML_TEMPLATE
    return tokenizer


def _load(folder: str) -> _Loaded:
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    dtype = torch.float32
    if cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    model: Any
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        tokenizer = _tokenizer(folder)
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"The model in {folder} could not be loaded ({type(exc).__name__}: {str(exc)[:300]})",
            status=500,
            type="InternalServerError",
        ) from exc
    model = model.to("cuda" if cuda else "cpu").eval()
    context = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    return _Loaded(folder, model, tokenizer, _model_bytes(model), int(context))


def _model_bytes(model) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def _sampling(request: GenerationRequest) -> dict[str, Any]:
    """generate()'s sampling arguments. Unset temperature and top_p keep the model's own generation config,
    as vLLM does; temperature 0 is greedy."""
    if request.temperature is None and request.top_p is None:
        return {}
    temperature = 1.0 if request.temperature is None else request.temperature
    if temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    top_p = 1.0 if request.top_p is None else request.top_p
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": None}


def _free_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - the engine always has torch
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
