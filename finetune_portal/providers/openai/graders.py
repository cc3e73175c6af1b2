"""Shape checks for RFT graders, so a typo is caught in the form instead of by a failed paid job."""

from __future__ import annotations

from typing import Any

OPERATIONS = ("eq", "ne", "like", "ilike")
METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
ROLES = ("user", "assistant", "system", "developer")
REQUIRED = {
    "string_check": ("name", "input", "reference", "operation"),
    "text_similarity": ("name", "input", "reference", "evaluation_metric"),
    "score_model": ("name", "model", "input"),
    "label_model": ("name", "model", "input", "labels", "passing_labels"),
    "python": ("name", "source"),
    "multi": ("name", "graders", "calculate_output"),
}


def grader_problems(grader: Any, *, where: str = "grader") -> list[str]:
    """Plain-language problems with a grader's shape; an empty list means it looks right."""
    if not isinstance(grader, dict):
        return [f"{where} must be a JSON object."]
    kind = grader.get("type")
    if kind not in REQUIRED:
        return [f"{where}: type must be one of {', '.join(REQUIRED)} (got {kind!r})."]
    problems = [f"{where}: a {kind} grader needs “{key}”." for key in REQUIRED[kind] if key not in grader]
    if kind == "string_check" and "operation" in grader and grader["operation"] not in OPERATIONS:
        problems.append(f"{where}: operation must be one of {', '.join(OPERATIONS)}.")
    if (
        kind == "text_similarity"
        and "evaluation_metric" in grader
        and grader["evaluation_metric"] not in METRICS
    ):
        problems.append(f"{where}: evaluation_metric must be one of {', '.join(METRICS)}.")
    if kind in ("score_model", "label_model") and "input" in grader:
        messages = grader["input"]
        if not isinstance(messages, list) or not messages:
            problems.append(f"{where}: input must be a list of messages.")
        else:
            for index, message in enumerate(messages):
                if (
                    not isinstance(message, dict)
                    or message.get("role") not in ROLES
                    or "content" not in message
                ):
                    problems.append(f"{where}: input[{index}] needs a role ({', '.join(ROLES)}) and content.")
    if kind == "score_model" and "range" in grader:
        bounds = grader["range"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
            problems.append(f"{where}: range must be [low, high] with low < high.")
    if kind == "python" and "source" in grader and "def grade" not in str(grader["source"]):
        problems.append(f"{where}: source must define grade(sample, item).")
    if kind == "multi" and "graders" in grader:
        graders = grader["graders"]
        if not isinstance(graders, dict) or not graders:
            problems.append(f"{where}: graders must be an object of named graders.")
        else:
            for key, sub in graders.items():
                problems += grader_problems(sub, where=f"{where}.graders.{key}")
    return problems
