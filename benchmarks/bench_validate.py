"""Benchmark: validate a generated chat JSONL of at least 200 MB.

Prints MB/s, examples/s, CPU seconds and peak RSS of a straightforward reference validator (the whole
file read into a list with json.loads, tokens counted message by message) and of the streaming
validator with each worker count asked for, all on the same file in one run, then each setting's
speed-up over the reference and its CPU per byte relative to the reference's.

    python benchmarks/bench_validate.py [--mb 200] [--workers 1,2] [--rounds 1] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = [
    "account",
    "balance",
    "transfer",
    "card",
    "fee",
    "interest",
    "loan",
    "mortgage",
    "branch",
    "online",
    "app",
    "login",
    "password",
    "statement",
    "deposit",
    "withdrawal",
    "overdraft",
    "savings",
    "credit",
    "debit",
    "limit",
    "payment",
    "refund",
    "charge",
    "support",
    "wait",
    "queue",
    "helpful",
    "slow",
    "quick",
    "friendly",
    "rude",
    "clear",
    "confusing",
    "secure",
    "fraud",
    "alert",
    "notification",
    "mobile",
    "cheque",
]
LABELS = ("positive", "negative", "neutral")


def generate(path: Path, megabytes: int, seed: int = 7) -> int:
    """Write varied chat examples until the file reaches `megabytes`; return the example count."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    target = megabytes * 1024 * 1024
    written = examples = 0
    system = {
        "role": "system",
        "content": "You classify customer reviews of a retail bank and explain briefly.",
    }
    with open(path, "w", encoding="utf-8") as handle:
        batch = []
        while written < target:
            review = " ".join(rng.choices(WORDS, k=rng.randint(20, 120))).capitalize() + "."
            label = rng.choice(LABELS)
            reason = " ".join(rng.choices(WORDS, k=rng.randint(5, 30)))
            messages = [system, {"role": "user", "content": review}]
            if rng.random() < 0.3:  # some multi-turn examples
                messages += [
                    {"role": "assistant", "content": label},
                    {"role": "user", "content": "Why? " + " ".join(rng.choices(WORDS, k=8))},
                ]
                label = f"{label}: {reason}"
            messages.append({"role": "assistant", "content": label})
            line = json.dumps({"messages": messages}, ensure_ascii=False) + "\n"
            batch.append(line)
            written += len(line.encode())
            examples += 1
            if len(batch) == 2000:
                handle.writelines(batch)
                batch.clear()
        handle.writelines(batch)
    return examples


def reference_validate(path: str) -> dict:
    """The straightforward way: read everything, json.loads each line, count tokens message by message."""
    import tiktoken

    from finetune_portal.datasets.tokenizers import seed_tiktoken_cache

    seed_tiktoken_cache("o200k_base")
    encoding = tiktoken.get_encoding("o200k_base")
    with open(path, encoding="utf-8") as handle:
        dataset = [json.loads(line) for line in handle]
    errors = 0
    total = 0
    for example in dataset:
        messages = example.get("messages")
        if not messages or not any(m.get("role") == "assistant" for m in messages):
            errors += 1
        tokens = 3
        for message in messages:
            tokens += 3
            for key, value in message.items():
                tokens += len(encoding.encode(value))
                if key == "name":
                    tokens += 1
        total += tokens
    return {"examples": len(dataset), "errors": errors, "total_tokens": total}


def run_child(mode: str, path: str, workers: int) -> dict:
    """Run one validator in a fresh process so its peak RSS is its own."""
    output = subprocess.run(  # noqa: S603 - runs this very script
        [sys.executable, __file__, "--child", mode, "--path", path, "--workers", str(workers)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "finetune_portal.settings"},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def child(mode: str, path: str, workers: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
    django.setup()
    from finetune_portal.datasets.tokenizers import TokenCounter, TokenizerSpec
    from finetune_portal.datasets.validation import validate_file  # imported before the timing, as tiktoken

    TokenCounter(TokenizerSpec("tiktoken", "o200k_base"))  # load the encoding outside the timing
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    if mode == "streaming":
        report = validate_file(path, kind="chat", base_model="gpt-4o-mini", workers=workers)
        result = {
            "examples": report["examples"],
            "errors": report["error_count"],
            "total_tokens": report["stats"]["total_tokens"],
        }
    else:
        result = reference_validate(path)
    elapsed = time.perf_counter() - started
    kib = 1024
    own, workers_usage = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    result |= {
        "seconds": elapsed,
        "cpu_seconds": own.ru_utime
        + own.ru_stime
        + workers_usage.ru_utime
        + workers_usage.ru_stime
        - cpu_before,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib,
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib,
    }
    print(json.dumps(result))


def describe(name: str, run: dict, size_mb: float) -> str:
    return (
        f"{name}: {size_mb / run['seconds']:.1f} MB/s, {run['examples'] / run['seconds']:,.0f} examples/s, "
        f"{run['seconds']:.1f} s, {run['cpu_seconds']:.1f} CPU s; peak RSS {run['rss_mb']:.0f} MB (main), "
        f"{run['worker_rss_mb']:.0f} MB (largest worker); "
        f"{run['total_tokens']:,} tokens, {run['errors']} errors"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each validator; the fastest counts")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, int(args.workers))
        return
    settings = [int(count) for count in args.workers.split(",")]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chat.jsonl"
        started = time.perf_counter()
        examples = generate(path, args.mb)
        size_mb = path.stat().st_size / (1024 * 1024)
        print(
            f"generated {size_mb:.0f} MB, {examples:,} chat examples in {time.perf_counter() - started:.0f} s"
        )
        # Rounds alternate the validators, so a machine busy with other work slows each of them alike.
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            names = [] if args.skip_reference else ["reference"]
            for name in names + [f"streaming, {count} worker(s)" for count in settings]:
                mode, workers = (
                    ("reference", 1) if name == "reference" else ("streaming", int(name.split()[1]))
                )
                run = run_child(mode, str(path), workers)
                if name not in best or run["seconds"] < best[name]["seconds"]:
                    best[name] = run
        for name, run in best.items():
            print(describe(name, run, size_mb))
        reference = best.get("reference")
        if reference is None:
            return
        for name, run in best.items():
            if name == "reference":
                continue
            print(
                f"{name}: speed-up {reference['seconds'] / run['seconds']:.2f}x "
                f"(CPU per byte {run['cpu_seconds'] / reference['cpu_seconds']:.2f} of the reference's)"
            )
            # Same counting rule, so the totals agree exactly.
            if reference["total_tokens"] != run["total_tokens"]:
                print(f"WARNING: token totals differ between the reference and {name}")


if __name__ == "__main__":
    main()
