"""Finding and loading models for the engine: which folder a model name means on this host, the model and
its tokenizer read from it, and the memory they take."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft import demo_models
from finetune_portal.providers.peft.base_models import BaseModelError, SourceKind, base_model_parse
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.serving.errors import EngineError, model_not_found

# The generic `demo:tiny` that the server answers with when asked for it by name. A job's own tiny model is
# trained on the job's data; its adapters go onto that one (named in their adapter_config.json).
DEMO_CORPUS = [
    "Hello! How can I help you today?",
    "The sky is blue and the grass is green.",
    "What colour is the item? The item is red.",
    "Thank you, that answers my question.",
]


@dataclass(eq=False)
class Loaded:
    """A warm model: its weights, tokenizer and size, and the lock one generation at a time holds."""

    folder: str
    model: Any
    tokenizer: Any
    nbytes: int
    context: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    attached: set[str] = field(default_factory=set)  # peft adapter names inside ``model``


def demo_names() -> list[str]:
    from finetune_portal.providers.peft.base_models import DEMO_SMOLLM2, DEMO_TINY

    names = [DEMO_TINY]
    if demo_models.smollm2_gguf_path() is not None:
        names.append(DEMO_SMOLLM2)
    return names


def model_folder(name: str, *, cache_dir: Path) -> str:
    """The folder holding the base model ``name`` on this host; never downloads."""
    try:
        source = base_model_parse(name)
    except BaseModelError as exc:
        raise model_not_found(name) from exc
    if source.kind == SourceKind.DEMO_TINY:
        return str(demo_models.tiny_model_folder(cache_dir=cache_dir, texts=DEMO_CORPUS))
    if source.kind == SourceKind.DEMO_SMOLLM2:
        try:
            return str(demo_models.smollm2_folder(cache_dir=cache_dir))
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


def tokenizer_load(folder: Path | str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = demo_models.CHATML_TEMPLATE
    return tokenizer


def model_load(folder: str) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM

    cuda = torch.cuda.is_available()
    dtype = torch.float32
    if cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    model: Any
    try:
        with MODEL_BUILD_LOCK:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
        tokenizer = tokenizer_load(folder)
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"The model in {folder} could not be loaded ({type(exc).__name__}: {str(exc)[:300]})",
            status=500,
            type="InternalServerError",
        ) from exc
    model = model.to("cuda" if cuda else "cpu").eval()
    context = getattr(model.config, "max_position_embeddings", None) or tokenizer.model_max_length
    return Loaded(folder, model, tokenizer, model_bytes(model), int(context))


def model_bytes(model) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def free_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - the engine always has torch
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
