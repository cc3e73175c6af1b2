"""Scoring a model's answers against references: per-item scores and the summary of a whole run.

Pure functions over strings, so they are tested against hand-computed values and timed in benchmarks.
Scores keep each metric's natural scale (accuracy 0/1, ROUGE-L 0-1, BLEU and chrF 0-100, judge 1-10);
``Metric.points`` says how to show a difference of scores in points.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, median

# ROUGE-L as rouge-score computes it, BLEU and chrF as sacrebleu does (its defaults; sentence BLEU with
# effective order), each pair's statistics counted once: see overlap.py; chrF of many pairs at once is
# counted with numpy (chrf_batch.py).
from finetune_portal.evaluations.chrf_batch import corpus_chrf_batch, sentence_chrf_batch
from finetune_portal.evaluations.overlap import (
    corpus_bleu,
    rouge_l,
    sentence_bleu,
    sentence_chrf,
)

ACCURACY = "accuracy"
MACRO_F1 = "macro_f1"
ROUGE_L = "rouge_l"
BLEU = "bleu"
CHRF = "chrf"
JSON_VALID = "json"
JUDGE = "judge"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    task: str  # classification | generation | structured | judge
    binary: bool  # item scores are right (1) / wrong (0): McNemar's test applies
    points: float  # a difference of item scores times this is "points"
    unit: str


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric(ACCURACY, "Exact-match accuracy", "classification", True, 100.0, "%"),
        Metric(MACRO_F1, "Macro F1", "classification", True, 100.0, "%"),
        Metric(ROUGE_L, "ROUGE-L", "generation", False, 100.0, ""),
        Metric(BLEU, "BLEU", "generation", False, 1.0, ""),
        Metric(CHRF, "chrF", "generation", False, 1.0, ""),
        Metric(JSON_VALID, "Valid JSON (and schema)", "structured", True, 100.0, "%"),
        Metric(JUDGE, "LLM-as-judge (1-10)", "judge", False, 10.0, ""),
    )
}


def normalize_label(text: str) -> str:
    """Labels compare without case, surrounding space or a trailing full stop."""
    return " ".join(text.strip().strip(".").split()).casefold()


# --- classification -------------------------------------------------------------------------------


def exact_match(output: str, reference: str) -> float:
    return 1.0 if normalize_label(output) == normalize_label(reference) else 0.0


def classification_report(outputs: list[str], references: list[str]) -> dict:
    """Accuracy, macro F1 over the reference labels, per-label precision and recall, and the confusion
    matrix (rows: reference label, columns: predicted label, answers outside the labels as "other")."""
    refs = [normalize_label(r) for r in references]
    preds = [normalize_label(o) for o in outputs]
    labels = sorted(set(refs))
    n = len(refs)
    per_label = {}
    for label in labels:
        tp = sum(1 for r, p in zip(refs, preds, strict=True) if r == label and p == label)
        predicted = sum(1 for p in preds if p == label)
        actual = sum(1 for r in refs if r == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    columns = [*labels, "other"] if any(p not in labels for p in preds) else list(labels)
    counts = Counter((r, p if p in labels else "other") for r, p in zip(refs, preds, strict=True))
    matrix = [[counts[(r, c)] for c in columns] for r in labels]
    return {
        "accuracy": sum(1 for r, p in zip(refs, preds, strict=True) if r == p) / n if n else 0.0,
        "macro_f1": mean(v["f1"] for v in per_label.values()) if per_label else 0.0,
        "per_label": per_label,
        "labels": labels,
        "columns": columns,
        "confusion": matrix,
    }


# --- generation -----------------------------------------------------------------------------------


def length_stats(texts: list[str]) -> dict:
    words = [len(t.split()) for t in texts]
    if not words:
        return {"mean_words": 0.0, "median_words": 0.0, "max_words": 0, "empty": 0}
    return {
        "mean_words": mean(words),
        "median_words": float(median(words)),
        "max_words": max(words),
        "empty": sum(1 for w in words if w == 0),
    }


# --- structured output ----------------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def json_score(output: str, schema: dict | None = None) -> tuple[float, str]:
    """1 when the answer is JSON (a fenced ```json block counts) and, with a schema, matches it; the
    reason when it does not."""
    text = output.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        value = json.loads(text)
    except ValueError as exc:
        return 0.0, f"Not JSON: {exc}"
    if schema:
        import jsonschema

        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
        if error is not None:
            return 0.0, f"Does not match the schema: {error.message}"
    return 1.0, ""


# --- judge ----------------------------------------------------------------------------------------

JUDGE_INSTRUCTIONS = (
    "You grade an answer against a rubric. Reply with a JSON object only: "
    '{"score": <integer 1-10>, "reason": "<one or two sentences>"}.'
)
_SCORE = re.compile(r"\bscore\b\W{0,4}(\d{1,2})", re.IGNORECASE)
_NUMBER = re.compile(r"\b(10|[1-9])\b")


def judge_messages(*, rubric: str, prompt: str, reference: str, answer: str) -> list[dict]:
    return [
        {"role": "system", "content": JUDGE_INSTRUCTIONS},
        {
            "role": "user",
            "content": (
                f"Rubric:\n{rubric}\n\nQuestion:\n{prompt}\n\nReference answer:\n{reference}\n\n"
                f"Answer to grade:\n{answer}"
            ),
        },
    ]


def parse_judgement(text: str) -> tuple[float | None, str]:
    """The judge's 1-10 score and reason; None when no score can be read from it."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    try:
        value = json.loads(fenced.group(1) if fenced else stripped)
    except ValueError:
        value = None
    if isinstance(value, dict) and "score" in value:
        try:
            score = float(value["score"])
        except (TypeError, ValueError):
            score = None
        if score is not None and 1 <= score <= 10:
            return score, str(value.get("reason", "")).strip()
    found = _SCORE.search(stripped) or _NUMBER.search(stripped)
    if found and 1 <= int(found.group(1)) <= 10:
        return float(found.group(1)), stripped
    return None, stripped


# --- per item and summary -------------------------------------------------------------------------


def item_score(metric: str, output: str, reference: str, *, schema: dict | None = None) -> tuple[float, str]:
    """The score of one answer (the judge is scored elsewhere: it asks a model) and a note."""
    if metric in (ACCURACY, MACRO_F1):
        return exact_match(output, reference), ""
    if metric == ROUGE_L:
        return rouge_l(output, reference), ""
    if metric == BLEU:
        return sentence_bleu(output, reference), ""
    if metric == CHRF:
        return sentence_chrf(output, reference), ""
    if metric == JSON_VALID:
        return json_score(output, schema)
    raise ValueError(f"{metric} is not scored per item")


def item_scores(
    metric: str, outputs: Sequence[str], references: Sequence[str], *, schema: dict | None = None
) -> list[tuple[float, str]]:
    """``item_score`` of each pair, chrF counted for all of them at once."""
    if metric == CHRF:
        return [(score, "") for score in sentence_chrf_batch(outputs, references)]
    return [item_score(metric, o, r, schema=schema) for o, r in zip(outputs, references, strict=True)]


def summary(metric: str, outputs: list[str], references: list[str], scores: list[float]) -> dict:
    """The run's number for one model (``value``, in the metric's scale) and its details."""
    details: dict = {"length": length_stats(outputs), "n": len(scores)}
    if metric in (ACCURACY, MACRO_F1):
        report = classification_report(outputs, references)
        details["classification"] = report
        value = report["accuracy"] if metric == ACCURACY else report["macro_f1"]
    elif metric == BLEU:
        value = corpus_bleu(outputs, references)
    elif metric == CHRF:
        value = corpus_chrf_batch(outputs, references)
    else:
        value = mean(scores) if scores else 0.0
    details["value"] = value
    return details
