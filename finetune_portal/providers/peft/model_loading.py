"""Getting the model ready to train: the hardware checks, the tokenizer, the base model (QLoRA's 4-bit
one included) and a checkpoint's adapter to continue.

GPU-worker only: torch, transformers and peft are imported inside the functions.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.peft.demo_models import CHATML_TEMPLATE
from finetune_portal.providers.peft.model_build import MODEL_BUILD_LOCK
from finetune_portal.providers.peft.training_config import QUANTIZED_ADAPTERS, fsdp_requested

if TYPE_CHECKING:
    from finetune_portal.providers.peft.trainer import Reporter, TrainingSpec


def check_hardware(spec: TrainingSpec, *, cuda: bool) -> None:
    """Refuse, before loading anything, settings this worker cannot train."""
    if fsdp_requested(spec):
        if not cuda:
            # accelerate only shards across GPUs; on CPU processes it would quietly fall back to DDP.
            raise ProviderError(
                "FSDP shards a model across CUDA GPUs, and these training processes run on the CPU.",
                permanent=True,
                hint="Choose DDP for CPU processes, or run the job on a worker with GPUs.",
                code="fsdp_needs_gpus",
            )
        if spec.adapter == "qlora":
            raise ProviderError(
                "QLoRA's 4-bit weights are not sharded with FSDP here.",
                permanent=True,
                hint="Use QLoRA with DDP, or LoRA or full fine-tuning with FSDP.",
                code="qlora_with_fsdp",
            )
    if spec.adapter in QUANTIZED_ADAPTERS and importlib.util.find_spec("bitsandbytes") is None:
        raise ProviderError(
            "QLoRA needs the bitsandbytes package, which is not installed on this GPU worker.",
            permanent=True,
            hint="pip install bitsandbytes on the worker, or choose LoRA.",
            code="qlora_needs_bitsandbytes",
        )
    if spec.adapter == "qlora8" and fsdp_requested(spec):
        raise ProviderError(
            "QLoRA's 8-bit weights are not sharded with FSDP here.",
            permanent=True,
            hint="Use QLoRA with DDP, or LoRA or full fine-tuning with FSDP.",
            code="qlora_with_fsdp",
        )
    # bitsandbytes 0.50 has CPU kernels for 8-bit weights, so 8-bit QLoRA also runs on a CPU worker.
    if spec.adapter == "qlora" and not cuda and not spec.cpu_stands_in_for_gpu:
        raise ProviderError(
            "QLoRA (4-bit) needs a CUDA GPU, and this worker has none.",
            permanent=True,
            hint="Choose LoRA or full fine-tuning for a CPU worker, or run the job on a GPU worker.",
            code="qlora_needs_gpu",
        )


def prepare_tokenizer(spec: TrainingSpec, reporter: Reporter):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        tokenizer.chat_template = CHATML_TEMPLATE
        reporter.event(
            "The base model has no chat template; using ChatML.", key="chat-template", level="warn"
        )
    if spec.assistant_only_loss and "generation" not in tokenizer.chat_template:
        spec.assistant_only_loss = False
        reporter.event(
            "Assistant-only loss is off: this model's chat template does not mark the assistant's turns "
            "({% generation %}), so the loss covers the whole conversation.",
            key="assistant-only-off",
            level="warn",
        )
    return tokenizer


def load_base_model(spec: TrainingSpec, *, cuda: bool, bf16: bool):
    """The base model in the precision this hardware trains in; 4-bit and prepared for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if cuda:
        kwargs["dtype"] = torch.bfloat16 if bf16 else torch.float16
        if not bf16 and spec.adapter == "full":
            # fp16 mixed precision needs fp32 master weights to train: the gradient scaler refuses
            # fp16 parameters.
            kwargs["dtype"] = torch.float32
        attn = spec.attn_implementation
        if attn is None and importlib.util.find_spec("flash_attn") is not None:
            attn = "flash_attention_2"
        kwargs["attn_implementation"] = attn or "sdpa"
    if spec.adapter == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    elif spec.adapter == "qlora8":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        if not cuda:
            kwargs["device_map"] = {"": "cpu"}
    with MODEL_BUILD_LOCK:
        model = AutoModelForCausalLM.from_pretrained(spec.model_path, **kwargs)
    if spec.adapter in QUANTIZED_ADAPTERS:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=spec.gradient_checkpointing is not False,
            # torch asks for the choice to be explicit; the non-reentrant variant works with frozen inputs.
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def continue_adapter(model, folder: str):
    """The base model with a checkpoint's LoRA adapter loaded, trainable, to go on training it."""
    from peft import PeftModel

    try:
        with MODEL_BUILD_LOCK:
            return PeftModel.from_pretrained(model, folder, is_trainable=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ProviderError(
            f"The checkpoint to continue from does not fit this base model ({type(exc).__name__}: "
            f"{str(exc)[:300]}).",
            permanent=True,
            hint="Continue a checkpoint on the base model it was trained on (the demo model: on its data).",
            code="checkpoint_mismatch",
        ) from exc
