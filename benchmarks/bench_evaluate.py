"""Evaluation throughput: the portal's evaluation vs a bare loop over the same engine, and metric speed.

The portal's path is what an evaluation run takes: evaluation_start (items read from a stored dataset
version, output rows written), then its batches in this process: claim rows by compare-and-set, ask
through the inference core (a ChatAnswer recorded per answer), score, store (free answers written
together, at most a second apart), and the summary at the end.
The bare loop asks the same engine (the embedded model server, started as its own process, through the
same client) the same questions with the same greedy settings, and nothing else. The two run back to
back per round (which goes first alternates); the figure is the median of the rounds' ratios.
Goal: >= 0.8x the bare loop's items/s.

Then metric computation for 10,000 items (accuracy with the classification report, ROUGE-L, sentence
and corpus BLEU, chrF): per-item scores (a run's answers scored together, as metrics.item_scores does)
and the summary timed apart; goal < 2 s of CPU for the four metrics together.
Beside them, rouge-score's and sacrebleu's own time for the same work (measured on 1,000 items, scaled),
and a check that the portal's scores equal theirs.

    python benchmarks/bench_evaluate.py

Knobs: BENCH_ITEMS=30 (items per round), BENCH_ROUNDS=5, BENCH_MAX_TOKENS=8, BENCH_MODEL=demo:tiny.
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
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
MAX_TOKENS = int(os.environ.get("BENCH_MAX_TOKENS", "8"))
METRIC_ITEMS = 10_000
LIBRARY_ITEMS = 1_000
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
        for number in range(ROUNDS):
            # Which path goes first alternates, so a machine that slows down over a round favours neither.
            if number % 2:
                portal_rate = portal()
                pairs.append((bare(), portal_rate))
            else:
                pairs.append((bare(), portal()))
    finally:
        server.terminate()
        server.wait(10)
    ratios = [p / b for b, p in pairs]
    ratio = statistics.median(ratios)
    print(f"evaluation throughput: {MODEL}, {ITEMS} items x {ROUNDS} rounds, greedy, {MAX_TOKENS} new tokens")
    print("  bare loop: client -> model server, one question after another")
    print("  portal: start, claim, ask, record, score, summarize")
    print(f"  {'round':<8} {'bare items/s':>12} {'portal items/s':>15} {'portal/bare':>12}")
    for number, (bare_rate, portal_rate) in enumerate(pairs, start=1):
        print(f"  {number:<8} {bare_rate:>12.2f} {portal_rate:>15.2f} {portal_rate / bare_rate:>11.2f}x")
    bare_median = statistics.median(b for b, _ in pairs)
    portal_median = statistics.median(p for _, p in pairs)
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    print(f"  {'median':<8} {bare_median:>12.2f} {portal_median:>15.2f} {ratio:>11.2f}x  ({verdict} >= 0.8x)")


def _libraries():
    """rouge-score and sacrebleu, imported before any timing (rouge-score pulls in nltk)."""
    import sacrebleu
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU, CHRF

    return sacrebleu, rouge_scorer, BLEU, CHRF


def _library_scores(metric: str, outs: list[str], refs: list[str]) -> tuple[list[float], float]:
    """rouge-score's and sacrebleu's own per-item scores and corpus score (the reference the portal's
    counting is held to)."""
    sacrebleu, rouge_scorer, BLEU, CHRF = _libraries()
    if metric == "rouge_l":
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        scores = [scorer.score(r, o)["rougeL"].fmeasure for o, r in zip(outs, refs, strict=True)]
        return scores, statistics.mean(scores)
    if metric == "bleu":
        bleu = BLEU(effective_order=True)
        scores = [bleu.sentence_score(o, [r]).score for o, r in zip(outs, refs, strict=True)]
        return scores, sacrebleu.corpus_bleu(outs, [refs]).score
    chrf = CHRF()
    scores = [chrf.sentence_score(o, [r]).score for o, r in zip(outs, refs, strict=True)]
    return scores, sacrebleu.corpus_chrf(outs, [refs]).score


def metric_speed() -> None:
    from finetune_portal.evaluations import metrics

    rng = random.Random(7)  # noqa: S311 (sample text, not secrets)
    words = SAMPLE_TEXT.split()
    refs = [" ".join(rng.choices(words, k=12)) for _ in range(METRIC_ITEMS)]
    outs = [" ".join(rng.choices(words, k=12)) for _ in range(METRIC_ITEMS)]
    labels_ref = [rng.choice(LABELS) for _ in range(METRIC_ITEMS)]
    labels_out = [rng.choice(LABELS) for _ in range(METRIC_ITEMS)]

    print(f"metric computation for {METRIC_ITEMS:,} items: per-item scores, then the run's summary")
    print("  seconds of this process's CPU, the computation's own time (wall time on a busy machine")
    print("  also waits for a CPU: it is beside them); the goal is judged on the CPU total. The summary")
    print("  adds up the BLEU statistics kept while the items were scored; chrF's are counted again with")
    print("  numpy, every item together")
    scale = METRIC_ITEMS // LIBRARY_ITEMS
    print(
        f"  library: rouge-score / sacrebleu themselves, CPU s on the first {LIBRARY_ITEMS:,} items x {scale}"
    )
    few_outs, few_refs = outs[:LIBRARY_ITEMS], refs[:LIBRARY_ITEMS]
    _libraries()
    header = f"{'metric':<22} {'scores':>7} {'summary':>8} {'total':>7} {'wall':>7} {'library':>8}"
    print(f"  {header}")

    def timed(run):
        cpu, wall = time.process_time(), time.perf_counter()
        result = run()
        return result, time.process_time() - cpu, time.perf_counter() - wall

    scores, scoring, scoring_wall = timed(
        lambda: [metrics.exact_match(o, r) for o, r in zip(labels_out, labels_ref, strict=True)]
    )
    _, summarizing, summary_wall = timed(lambda: metrics.summary("accuracy", labels_out, labels_ref, scores))
    together = scoring + summarizing
    _metric_row("accuracy + class report", scoring, summarizing, scoring_wall + summary_wall, None)
    for metric, name in (
        ("rouge_l", "ROUGE-L"),
        ("bleu", "BLEU (sentence+corpus)"),
        ("chrf", "chrF (sentence+corpus)"),
    ):
        scores, scoring, scoring_wall = timed(
            lambda m=metric: [score for score, _ in metrics.item_scores(m, outs, refs)]
        )
        _, summarizing, summary_wall = timed(lambda m=metric, s=scores: metrics.summary(m, outs, refs, s))
        (library_scores, library_value), library_cpu, _ = timed(
            lambda m=metric: _library_scores(m, few_outs, few_refs)
        )
        together += scoring + summarizing
        _metric_row(name, scoring, summarizing, scoring_wall + summary_wall, library_cpu * scale)
        ours = [score for score, _ in metrics.item_scores(metric, few_outs, few_refs)]
        one_by_one = [metrics.item_score(metric, o, r)[0] for o, r in zip(few_outs, few_refs, strict=True)]
        ours_worst = max(abs(a - b) for a, b in zip(ours, one_by_one, strict=True))
        if ours_worst > 1e-9:
            raise SystemExit(f"{name}: the scores of a batch differ from one pair's by {ours_worst}")
        ours_value = metrics.summary(metric, few_outs, few_refs, ours)["value"]
        worst = max(abs(a - b) for a, b in zip(ours, library_scores, strict=True))
        if worst > 1e-6 or abs(ours_value - library_value) > 1e-6:
            raise SystemExit(
                f"{name} differs from the library: {worst} per item, {ours_value} vs {library_value}"
            )
    verdict = "meets" if together < 2 else "MISSES"
    print(f"  {'the four together':<22} {'':>7} {'':>8} {together:>7.2f}  ({verdict} < 2 s CPU)")
    print("  per-item and corpus scores equal the library's within 1e-6 on the library's items, and a")
    print("  batch's scores equal those of its pairs scored one by one")


def _metric_row(name: str, scoring: float, summary: float, wall: float, library: float | None) -> None:
    total = scoring + summary
    library_text = f"{library:>8.2f}" if library is not None else f"{'-':>8}"
    print(f"  {name:<22} {scoring:>7.2f} {summary:>8.2f} {total:>7.2f} {wall:>7.2f} {library_text}")


if __name__ == "__main__":
    throughput()
    metric_speed()
