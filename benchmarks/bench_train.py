"""Training throughput of the local GPU provider against plain TRL defaults, on the same model and data.

Prints tokens/s, peak GPU memory and model FLOPs utilisation (6N FLOPs per trained token for full
fine-tuning, about 4N for LoRA on a frozen base, against the GPU's dense bf16 peak) for:

  plain   SFTTrainer with TRL's defaults (batch 8, padded batches, activation checkpointing on)
  portal  the provider's own training path (trainer.run_training): packed sequences, bf16, fused
          kernels when installed (Liger, FlashAttention), checkpointing only when memory needs it

On a CPU it uses the tiny demo model so the harness itself runs anywhere; the figures only mean
something on a GPU. Nothing is downloaded: the models are built locally (random weights are enough to
measure speed) or taken from the SmolLM2 package.

    python benchmarks/bench_train.py [--model tiny|smollm2|synthetic-0.5b|synthetic-1b|synthetic-8b|PATH]
                                     [--steps N] [--warmup N] [--adapter lora|full] [--max-length N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Dense bf16 peak of common training GPUs, FLOP/s (vendor data sheets, without sparsity).
BF16_PEAK = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 80GB HBM3": 989e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "H100": 756e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
}

# Shapes of the synthetic models: real architectures, random weights.
SYNTHETIC = {
    "synthetic-0.5b": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151_936,
    },
    "synthetic-1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128_256,
    },
    "synthetic-8b": {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128_256,
    },
}

WORDS = [
    "the",
    "a",
    "model",
    "data",
    "train",
    "loss",
    "step",
    "token",
    "batch",
    "learn",
    "answer",
    "question",
    "colour",
    "river",
    "mountain",
    "city",
    "quick",
    "slow",
    "bright",
    "dark",
    "small",
    "large",
    "early",
    "late",
    "north",
    "south",
    "green",
    "blue",
    "red",
    "yellow",
    "apple",
    "bread",
]


def synthetic_chats(count: int, seed: int = 0) -> list[dict]:
    """Conversations of varied length, as real chat data is: short questions, answers of 20-400 words."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    rows = []
    for _ in range(count):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        answer = " ".join(rng.choice(WORDS) for _ in range(rng.choice([20, 40, 80, 160, 400])))
        rows.append(
            {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
        )
    return rows


def peak_flops(device_name: str) -> float | None:
    for key, value in BF16_PEAK.items():
        if key in device_name:
            return value
    return None


def prepare_model(name: str, cache: Path, texts: list[str]) -> Path:
    from finetune_portal.providers.peft import demo_models

    if name == "tiny":
        return demo_models.tiny_model_folder(cache_dir=cache, texts=texts)
    if name == "smollm2":
        return demo_models.smollm2_folder(cache_dir=cache)
    if name in SYNTHETIC:
        target = cache / f"bench-{name}"
        if not (target / "config.json").exists():
            import torch
            from transformers import LlamaConfig, LlamaForCausalLM

            tokenizer_source = demo_models.tiny_model_folder(cache_dir=cache, texts=texts)
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
            config = LlamaConfig(**SYNTHETIC[name], max_position_embeddings=8192, tie_word_embeddings=False)
            config.pad_token_id = tokenizer.pad_token_id
            config.eos_token_id = tokenizer.eos_token_id
            torch.manual_seed(0)
            with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
                model = LlamaForCausalLM(config).to(torch.bfloat16)
            model.save_pretrained(target)
            tokenizer.save_pretrained(target)
        return target
    return Path(name)


class Timer:
    """Wall time and tokens between the end of the warm-up steps and the last step."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def step(self, step: int, tokens: float) -> None:
        if self.start is None and step >= self.warmup:
            self.start = (time.perf_counter(), tokens)
        self.end = (time.perf_counter(), tokens)

    def tokens_per_second(self) -> float:
        if not self.start or not self.end or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


def cuda_sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_plain(model_path: Path, rows, *, steps: int, warmup: int, adapter: str, max_length: int, out: Path):
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    timer = Timer(warmup)

    class Clock(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "num_tokens" in logs:
                cuda_sync()
                timer.step(state.global_step, float(logs["num_tokens"]))

    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        logging_steps=1,
        max_length=max_length,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        # The one change from the defaults that a CPU needs (TRL defaults to bf16).
        bf16=cuda,
        use_cpu=not cuda,
    )
    peft_config = (
        LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM") if adapter == "lora" else None
    )
    trainer = SFTTrainer(
        model=str(model_path),
        args=args,
        train_dataset=Dataset.from_list(rows),
        peft_config=peft_config,
        callbacks=[Clock()],
    )
    # The base model's parameters (N in 4N/6N), not the adapter's.
    parameters = sum(p.numel() for name, p in trainer.model.named_parameters() if "lora_" not in name)
    trainer.train()
    return timer.tokens_per_second(), parameters


def run_portal(model_path: Path, rows, *, steps: int, warmup: int, adapter: str, max_length: int, out: Path):
    import importlib.util

    import torch

    from finetune_portal.providers.peft.trainer import TrainingSpec, run_training

    timer = Timer(warmup)

    class Reporter:
        def heartbeat(self):
            pass

        def should_stop(self):
            return False

        def metrics(self, point):
            if "num_tokens" in point:
                cuda_sync()
                timer.step(point["step"], float(point["num_tokens"]))

        def event(self, *args, **kwargs):
            pass

        def checkpoint(self, **kwargs):
            pass

    cuda = torch.cuda.is_available()
    spec = TrainingSpec(
        model_path=str(model_path),
        method="sft",
        train_rows=rows,
        output_dir=str(out),
        adapter=adapter,
        max_steps=steps,
        learning_rate=2e-4,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        # Packed full-length sequences: no compute is spent on padding.
        batch_size=8 if cuda else 4,
        max_length=max_length,
        packing=True,
        assistant_only_loss=False,
        save_steps=10**9,
        use_liger_kernel=cuda and importlib.util.find_spec("liger_kernel") is not None,
    )
    outcome = run_training(spec, Reporter())
    return timer.tokens_per_second(), outcome.total_parameters


def measure(options) -> dict:
    """One configuration in this process; main() runs each in its own process so neither warms the other."""
    import torch

    cuda = torch.cuda.is_available()
    rows = synthetic_chats(options.examples)
    texts = [m["content"] for row in rows for m in row["messages"]]
    model_path = prepare_model(options.model, model_cache(), texts)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    runner = {"plain": run_plain, "portal": run_portal}[options.only]
    with tempfile.TemporaryDirectory() as out:
        tokens_per_second, parameters = runner(
            model_path,
            rows,
            steps=options.steps,
            warmup=options.warmup,
            adapter=options.adapter,
            max_length=options.max_length,
            out=Path(out),
        )
    return {
        "tokens_per_second": tokens_per_second,
        "parameters": parameters,
        "peak_memory": torch.cuda.max_memory_allocated() if cuda else None,
        "model_path": str(model_path),
    }


def model_cache() -> Path:
    return Path(os.environ.get("BENCH_MODEL_CACHE", Path(tempfile.gettempdir()) / "finetune-portal-bench"))


def main() -> None:
    import torch

    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="synthetic-1b" if cuda else "tiny")
    parser.add_argument("--steps", type=int, default=40 if cuda else 20)
    parser.add_argument("--warmup", type=int, default=5 if cuda else 3)
    parser.add_argument("--adapter", choices=["lora", "full"], default="lora")
    parser.add_argument("--max-length", type=int, default=2048 if cuda else 256)
    parser.add_argument("--examples", type=int, default=4000 if cuda else 400)
    parser.add_argument("--only", choices=["plain", "portal"], default=None, help=argparse.SUPPRESS)
    options = parser.parse_args()

    import django

    django.setup()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()

    if options.only:
        print("RESULT " + json.dumps(measure(options)))
        return

    device = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU)"
    peak = peak_flops(device) if cuda else None
    flops_per_token_factor = 6 if options.adapter == "full" else 4
    print(f"device: {device}")
    print(f"model: {options.model}, adapter: {options.adapter}, max length {options.max_length}")
    print(f"steps: {options.steps} (first {options.warmup} not timed), examples: {options.examples}")
    print()
    print(f"{'run':<8} {'tokens/s':>12} {'peak GPU mem':>14} {'MFU':>8} {'params':>14}")
    results = {}
    for name in ("plain", "portal"):
        command = [sys.executable, __file__, *sys.argv[1:], "--only", name]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
        if completed.returncode != 0 or not lines:
            print(f"{name:<8} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
            continue
        result = json.loads(lines[-1].removeprefix("RESULT "))
        tokens_per_second, parameters = result["tokens_per_second"], result["parameters"]
        memory = f"{result['peak_memory'] / 1024**3:.1f} GiB" if result["peak_memory"] is not None else "n/a"
        mfu = f"{tokens_per_second * flops_per_token_factor * parameters / peak:.1%}" if peak else "n/a"
        results[name] = tokens_per_second
        print(f"{name:<8} {tokens_per_second:>12,.0f} {memory:>14} {mfu:>8} {parameters:>14,}")
    if len(results) == 2 and results["plain"] > 0:
        print()
        print(f"portal / plain tokens/s: {results['portal'] / results['plain']:.2f}x")
    if not cuda:
        print("(CPU run: checks the harness; MFU needs a GPU's bf16 peak)")


if __name__ == "__main__":
    main()
