"""Helpers for the serving tests: a tiny LoRA adapter built locally, and the embedded server on loopback."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tiny_adapter(base_folder: Path, target: Path, *, seed: int = 1) -> Path:
    """A LoRA adapter on the tiny model with random (not zero) weights, so it visibly changes answers.

    Saved as training saves one: adapter weights, adapter_config.json naming the base folder, tokenizer.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with MODEL_BUILD_LOCK:  # a model server of the test may be loading in another thread
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base_folder)
        config = LoraConfig(r=4, lora_alpha=64, target_modules=LORA_TARGETS, init_lora_weights=False)
        get_peft_model(model, config).save_pretrained(target)
    AutoTokenizer.from_pretrained(base_folder).save_pretrained(target)
    return target


@contextmanager
def running_server(engine):
    from finetune_portal.providers.peft.serving.server import EngineServer

    server = EngineServer(engine).start_in_thread()
    try:
        yield server
    finally:
        server.stop()


def openai_client(server):
    import openai

    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
