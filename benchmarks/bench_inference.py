"""The local model server's overhead: the portal's path vs a bare transformers generate() loop.

The portal's path is what a playground chat takes: the client (providers/peft/serving/client.py, openai
SDK, streaming) -> the embedded model server started as its own process (`manage.py serve_models`) ->
transformers generate() with a streamer. The bare loop is model.generate() in this process on the same
model, prompts and greedy settings (so both make the same tokens). Both are warmed first; then, in each
round, every prompt runs on both paths back to back, the order alternating from pair to pair so that
neither always goes first on a machine whose load changes. The figure is the median of those pairs'
ratios, printed with its spread (quartiles, extremes) and the per-round ratios of tokens over time, so a
noisy run shows as one. Time to first token is taken on the playground's path: the inference core's
chat_stream (as the playground view calls it, recording the answer) -> the local provider -> the model
server. Goals: the portal's path at >= 0.9x the bare loop's tokens/s; warm time to first token < 1 s.

    python benchmarks/bench_inference.py

Knobs: BENCH_MODEL (default demo:tiny; demo:smollm2-135m when installed), BENCH_MAX_TOKENS=64,
BENCH_ROUNDS=5, BENCH_THREADS=1 (CPU threads per generation, the same on both paths; the tiny model is
fastest on one, and more only fight other processes on a shared machine; 0 keeps torch's default).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "DATABASE_URL" not in os.environ:  # the playground's path records each answer
    (ROOT / "var").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_inference.sqlite3'}"

MODEL = os.environ.get("BENCH_MODEL", "demo:tiny")
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "64"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
PROMPTS = [
    "What colour is item 3?",
    "Write one sentence about the sea.",
    "Name three fruits.",
    "Say hello in French.",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", "serve_models", "--port", str(port), "--threads", str(THREADS)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("The model server did not start within 60 s.")


def process_cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process, its ended threads included (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def portal_run(messages) -> tuple[int, float, float]:
    """(tokens, seconds, seconds to the first piece) through the client and the model server."""
    from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings
    from finetune_portal.providers.peft.serving.client import engine_chat_stream

    settings = ChatSettings(max_tokens=MAX_TOKENS, temperature=0)
    started = time.perf_counter()
    first = None
    tokens = 0
    for event in engine_chat_stream(
        model_name=MODEL, base_model=MODEL, adapter_uri="", messages=messages, settings=settings
    ):
        if isinstance(event, ChatDelta) and first is None:
            first = time.perf_counter() - started
        if isinstance(event, ChatDone):
            tokens = event.completion_tokens or 0
    elapsed = time.perf_counter() - started
    return tokens, elapsed, first if first is not None else elapsed


def playground_first_piece(messages) -> float:
    """Seconds to the first piece of text on the playground's path (the view's own call, recorded)."""
    from finetune_portal.inference.catalog import served_model_get
    from finetune_portal.inference.services import chat_stream
    from finetune_portal.projects.models import Project
    from finetune_portal.providers.chat import ChatDelta, ChatSettings

    project, _ = Project.objects.get_or_create(slug="bench-inference", defaults={"name": "Bench inference"})
    model = served_model_get(project, MODEL)
    if model is None:
        raise SystemExit(f"{MODEL} is not a model the local provider serves.")
    started = time.perf_counter()
    events = chat_stream(
        project=project,
        user=None,
        model=model,
        messages=messages,
        settings=ChatSettings(max_tokens=MAX_TOKENS, temperature=0),
        source="bench",
    )
    first = None
    for event in events:
        if first is None and isinstance(event, ChatDelta) and event.text:
            first = time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started


def quartiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return cuts[0], cuts[2]


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import torch
    from django.conf import settings as django_settings
    from transformers import AutoModelForCausalLM

    from finetune_portal.providers.peft import conf
    from finetune_portal.providers.peft.serving.engine import Engine
    from finetune_portal.providers.peft.serving.loading import tokenizer_load

    if THREADS:
        torch.set_num_threads(THREADS)

    # The server resolves (and on first use builds) the model exactly as it will serve it.
    folder = Engine(cache_dir=conf.model_cache_dir())._base_folder(MODEL)
    port = free_port()
    server = start_server(port)
    django_settings.VLLM_BASE_URL = ""
    django_settings.LOCAL_INFERENCE_URL = f"http://127.0.0.1:{port}/v1"
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        tokenizer = tokenizer_load(folder)
        conversations = [[{"role": "user", "content": prompt}] for prompt in PROMPTS]

        def bare_run(messages) -> tuple[int, float]:
            encoded = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
            started = time.perf_counter()
            with torch.inference_mode():
                output = model.generate(
                    **encoded, max_new_tokens=MAX_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            return output.shape[1] - encoded["input_ids"].shape[1], time.perf_counter() - started

        for messages in conversations:  # warm both paths: first calls load and compile kernels
            bare_run(messages)
            portal_run(messages)
            playground_first_piece(messages)

        bare_rates, portal_rates, pair_ratios, first_pieces, round_ratios = [], [], [], [], []
        # CPU time per token of each side (the portal's: this process as the client plus the server):
        # load stretches wall time, much less the CPU a path needs.
        cpu_seconds, token_counts = {"bare": 0.0, "portal": 0.0}, {"bare": 0, "portal": 0}
        server_cpu_seconds = 0.0
        for round_ in range(ROUNDS):
            totals = {"bare": [0, 0.0], "portal": [0, 0.0]}
            for index, messages in enumerate(conversations):
                runs = {}
                # Alternate which path goes first, so a change of load does not always favour one.
                order = ("bare", "portal") if (round_ + index) % 2 == 0 else ("portal", "bare")
                for side in order:
                    cpu, server_cpu = time.process_time(), process_cpu_seconds(server.pid)
                    runs[side] = bare_run(messages) if side == "bare" else portal_run(messages)[:2]
                    cpu_seconds[side] += time.process_time() - cpu
                    if side == "portal" and server_cpu is not None:
                        server_cpu_seconds += (process_cpu_seconds(server.pid) or server_cpu) - server_cpu
                for side, (tokens, seconds) in runs.items():
                    token_counts[side] += tokens
                    totals[side][0] += tokens
                    totals[side][1] += seconds
                bare_rates.append(runs["bare"][0] / runs["bare"][1])
                portal_rates.append(runs["portal"][0] / runs["portal"][1])
                pair_ratios.append(portal_rates[-1] / bare_rates[-1])
                first_pieces.append(playground_first_piece(messages))
            round_ratios.append(
                (totals["portal"][0] / totals["portal"][1]) / (totals["bare"][0] / totals["bare"][1])
            )
    finally:
        server.terminate()
        server.wait(10)

    bare, portal = statistics.median(bare_rates), statistics.median(portal_rates)
    ratio = statistics.median(pair_ratios)
    ttft, ttft_worst = statistics.median(first_pieces), max(first_pieces)
    device = "CUDA" if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"model {MODEL} on {device}, greedy, {MAX_TOKENS} new tokens,")
    print(f"{len(PROMPTS)} prompts x {ROUNDS} rounds, the two paths back to back in turns; medians")
    print(f"  {'path':<44} {'tokens/s':>10}")
    print(f"  {'bare transformers generate() loop':<44} {bare:>10.1f}")
    print(f"  {'portal: client -> model server (streaming)':<44} {portal:>10.1f}")
    low, high = min(pair_ratios), max(pair_ratios)
    q1, q3 = quartiles(pair_ratios)
    verdict = "meets" if ratio >= 0.9 else "MISSES"
    print(
        f"  portal/bare, median of {len(pair_ratios)} pairs: {ratio:.2f}x ({verdict} the >= 0.9x goal); "
        f"quartiles {q1:.2f}-{q3:.2f}, extremes {low:.2f}-{high:.2f}"
    )
    print(f"  portal/bare per round (tokens over time): {' '.join(f'{r:.2f}' for r in round_ratios)}")
    # Load only ever slows a run down, so each side's fastest run of a prompt is its least disturbed one.
    count = len(PROMPTS)
    best = statistics.median(max(portal_rates[i::count]) / max(bare_rates[i::count]) for i in range(count))
    print(f"  portal/bare, fastest run of each side per prompt (least disturbed by load): {best:.2f}x")
    bare_cpu = cpu_seconds["bare"] / token_counts["bare"] * 1000
    if process_cpu_seconds(os.getpid()) is not None:
        client_cpu = cpu_seconds["portal"] / token_counts["portal"] * 1000
        server_cpu = server_cpu_seconds / token_counts["portal"] * 1000
        portal_cpu = client_cpu + server_cpu
        print(
            f"  CPU per token: bare {bare_cpu:.3f} ms; portal {portal_cpu:.3f} ms (client {client_cpu:.3f} "
            f"+ model server {server_cpu:.3f}): bare/portal {bare_cpu / portal_cpu:.2f}x"
        )
    verdict = "meets" if ttft < 1.0 else "MISSES"
    print(
        f"  warm time to first token in the playground: median {ttft * 1000:.0f} ms, "
        f"worst {ttft_worst * 1000:.0f} ms ({verdict} < 1 s)"
    )
    print(f"  machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
