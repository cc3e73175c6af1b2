"""Evaluation throughput: the portal's evaluation vs a bare loop over the same engine, and metric speed.

The portal's path is what an evaluation run takes: evaluation_start (items read from a stored dataset
version, output rows written), then its batches in this process: claim rows by compare-and-set, ask
through the inference core (a ChatAnswer recorded per answer), score, store, and the summary at the end.
The bare loop asks the same engine (the embedded model server, started as its own process, through the
same client) the same questions with the same greedy settings, and nothing else. The two run back to
back per round; the figure is the median of the rounds' ratios. Goal: >= 0.8x the bare loop's items/s.

Then metric computation for 10,000 items (accuracy with the classification report, ROUGE-L, sentence
and corpus BLEU, chrF): goal < 2 s for each metric.

    python benchmarks/bench_evaluate.py

Knobs: BENCH_ITEMS=30 (items per round), BENCH_ROUNDS=3, BENCH_MAX_TOKENS=8, BENCH_MODEL=demo:tiny.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "DATABASE_URL" not in os.environ:
    (ROOT / "var").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_evaluate.sqlite3'}"
warnings.filterwarnings("ignore", message="No directory at")

MODEL = os.environ.get("BENCH_MODEL", "demo:tiny")
ITEMS = int(os.environ.get("BENCH_ITEMS", "30"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "8"))
METRIC_ITEMS = 10_000
SLUG = "bench-evaluate"
LABELS = ["POSITIVE", "NEGATIVE", "NEUTRAL"]
SAMPLE_TEXT = "the card was blocked at the branch and the app would not open again today"


def setup():
    import django

    django.setup()
    from django.core.management import call_command

    from finetune_portal.projects.models import Project
    from tests.evaluations.conftest import review_lines
    from tests.factories import make_dataset, make_version

    call_command("migrate", verbosity=0)
    Project.objects.filter(slug=SLUG).delete()
    project = Project.objects.create(name="Bench evaluate", slug=SLUG)
    dataset = make_dataset(project, name="reviews", kind="chat")
    return project, make_version(dataset, content=review_lines(ITEMS), example_count=ITEMS)


def throughput() -> None:
    from bench_inference import free_port, start_server

    project, version = setup()
    from django.conf import settings as django_settings

    from finetune_portal.evaluations.items import version_items
    from finetune_portal.evaluations.models import Evaluation
    from finetune_portal.evaluations.services import evaluation_run_in_process, evaluation_start
    from finetune_portal.inference.catalog import served_model_get
    from finetune_portal.providers.chat import ChatSettings
    from finetune_portal.providers.peft.serving.client import engine_chat_stream

    port = free_port()
    server = start_server(port)
    django_settings.VLLM_BASE_URL = ""
    django_settings.LOCAL_INFERENCE_URL = f"http://127.0.0.1:{port}/v1"
    settings = ChatSettings(temperature=0, max_tokens=MAX_TOKENS)
    try:
        model = served_model_get(project, MODEL)
        if model is None:
            raise SystemExit(f"{MODEL} is not served here.")
        questions = [messages for _, messages, _ in version_items(version)]

        def bare() -> float:
            started = time.perf_counter()
            for messages in questions:
                for _ in engine_chat_stream(
                    model_name=model.name, base_model=model.provider_model, adapter_uri="",
                    messages=messages, settings=settings,
                ):  # fmt: skip
                    pass
            return len(questions) / (time.perf_counter() - started)

        def portal() -> float:
            # A base model's answers from an earlier run would be reused, not asked: start from none.
            Evaluation.objects.filter(project=project).delete()
            started = time.perf_counter()
            evaluation = evaluation_start(
                project=project, user=None, version=version, model_names=[model.name],
                metric="accuracy", max_tokens=MAX_TOKENS, enqueue=False,
            )  # fmt: skip
            evaluation_run_in_process(evaluation_id=evaluation.pk)
            seconds = time.perf_counter() - started
            failed = evaluation.outputs.exclude(error="").values_list("error", flat=True).first()
            if failed:
                raise SystemExit(f"An answer failed: {failed}")
            return ITEMS / seconds

        bare()  # warm: the first call loads the model in the server
        pairs = []
        for _ in range(ROUNDS):
            pairs.append((bare(), portal()))
    finally:
        server.terminate()
        server.wait(10)
    ratios = [p / b for b, p in pairs]
    ratio = statistics.median(ratios)
    print(f"model {MODEL}, {ITEMS} items x {ROUNDS} rounds, greedy, {MAX_TOKENS} new tokens; medians")
    print(f"  {'path':<52} {'items/s':>8}")
    print(f"  {'bare loop: client -> model server':<52} {statistics.median(b for b, _ in pairs):>8.2f}")
    portal_label = "portal: start, claim, ask, record, score, summarize"
    print(f"  {portal_label:<52} {statistics.median(p for _, p in pairs):>8.2f}")
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    print(f"  portal/bare, median of rounds: {ratio:.2f}x ({verdict} the >= 0.8x goal)")


def metric_speed() -> None:
    from finetune_portal.evaluations import metrics

    rng = random.Random(7)  # noqa: S311 (sample text, not secrets)
    words = SAMPLE_TEXT.split()
    refs = [" ".join(rng.choices(words, k=12)) for _ in range(METRIC_ITEMS)]
    outs = [" ".join(rng.choices(words, k=12)) for _ in range(METRIC_ITEMS)]
    labels_ref = [rng.choice(LABELS) for _ in range(METRIC_ITEMS)]
    labels_out = [rng.choice(LABELS) for _ in range(METRIC_ITEMS)]

    def accuracy():
        scores = [metrics.exact_match(o, r) for o, r in zip(labels_out, labels_ref, strict=True)]
        metrics.summary("accuracy", labels_out, labels_ref, scores)

    def per_item(metric):
        def run():
            scores = [metrics.item_score(metric, o, r)[0] for o, r in zip(outs, refs, strict=True)]
            metrics.summary(metric, outs, refs, scores)

        return run

    print(f"metric computation for {METRIC_ITEMS:,} items (per-item scores and the summary)")
    timed = [
        ("accuracy + classification report", accuracy),
        ("ROUGE-L", per_item("rouge_l")),
        ("BLEU (sentence + corpus)", per_item("bleu")),
        ("chrF (sentence + corpus)", per_item("chrf")),
    ]
    for name, run in timed:
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        verdict = "meets" if seconds < 2 else "MISSES"
        print(f"  {name:<36} {seconds:6.2f} s ({verdict} < 2 s)")


if __name__ == "__main__":
    throughput()
    metric_speed()
