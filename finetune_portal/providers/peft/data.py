"""Turns a dataset version's JSONL into the rows TRL expects, and says plainly when a kind does not fit.

Pure Python (no torch), so the form and the worker share one rule for which kinds fit which method.
"""

from __future__ import annotations

import json
from typing import Any

from finetune_portal.providers.base import ProviderError

# Which dataset kinds each method trains on. Completion and Alpaca rows become chat/prompt-completion rows.
KINDS_FOR_METHOD: dict[str, tuple[str, ...]] = {
    "sft": ("chat", "completion", "alpaca", "text"),
    "dpo": ("dpo",),
}

_KIND_WORDS = {
    "chat": "a chat dataset",
    "completion": "a prompt/completion dataset",
    "alpaca": "an Alpaca dataset",
    "dpo": "a DPO preference dataset",
    "vision": "a vision chat dataset",
    "rft": "a reinforcement (RFT) dataset",
    "text": "a plain-text dataset",
}


def _a_job(method: str, *, capital: bool = False) -> str:
    article = "an" if method == "sft" else "a"
    return f"{article.capitalize() if capital else article} {method.upper()} job"


def check_kind_fits(*, method: str, kind: str, role: str = "training") -> None:
    fitting = KINDS_FOR_METHOD.get(method)
    if fitting is None:
        raise ProviderError(
            f"The local GPU provider does not run {method.upper()} jobs; choose SFT or DPO.",
            permanent=True,
            code="method_unsupported",
        )
    if kind not in fitting:
        wanted = " or ".join(_KIND_WORDS[k] for k in fitting)
        raise ProviderError(
            f"{_a_job(method, capital=True)} needs {wanted}, "
            f"but the {role} data is {_KIND_WORDS.get(kind, kind)}.",
            permanent=True,
            hint="Pick a dataset version of a fitting kind, or convert the dataset first.",
            code="dataset_kind_mismatch",
        )


def _message(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or "role" not in raw:
        raise ValueError("a message needs a role")
    content = raw.get("content")
    if isinstance(content, list):
        # OpenAI's content parts: keep the text ones.
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return {"role": str(raw["role"]), "content": "" if content is None else str(content)}


def _sft_row(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    if kind == "chat":
        return {"messages": [_message(m) for m in record["messages"]]}
    if kind == "completion":
        return {"prompt": str(record["prompt"]), "completion": str(record["completion"])}
    if kind == "text":
        # TRL's SFTTrainer trains a "text" column as plain causal language modelling.
        return {"text": str(record["text"])}
    if kind == "alpaca":
        instruction = str(record["instruction"])
        extra = str(record.get("input") or "")
        prompt = f"{instruction}\n\n{extra}" if extra else instruction
        return {
            "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": str(record["output"])},
            ]
        }
    raise ValueError(f"unsupported kind {kind}")


def _dpo_row(record: dict[str, Any]) -> dict[str, Any]:
    if {"prompt", "chosen", "rejected"} <= record.keys():
        prompt = record["prompt"]
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        chosen, rejected = record["chosen"], record["rejected"]
        if isinstance(chosen, str):
            chosen = [{"role": "assistant", "content": chosen}]
        if isinstance(rejected, str):
            rejected = [{"role": "assistant", "content": rejected}]
    else:
        # OpenAI's preference format.
        prompt = record["input"]["messages"]
        chosen, rejected = record["preferred_output"], record["non_preferred_output"]
    return {
        "prompt": [_message(m) for m in prompt],
        "chosen": [_message(m) for m in chosen],
        "rejected": [_message(m) for m in rejected],
    }


def rows_from_jsonl(content: bytes, *, kind: str, method: str) -> list[dict[str, Any]]:
    """Parse and convert every line; a line that does not fit names its line number."""
    rows = []
    for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append(_dpo_row(record) if method == "dpo" else _sft_row(kind, record))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderError(
                f"Line {number} of the data does not fit {_a_job(method)} on {_KIND_WORDS[kind]} ({exc}).",
                permanent=True,
                hint="Validate the dataset version again; the worker only accepts valid versions.",
                code="dataset_row_invalid",
            ) from exc
    if not rows:
        raise ProviderError("The dataset version has no examples.", permanent=True, code="dataset_empty")
    return rows


def texts_of(rows: list[dict[str, Any]]) -> list[str]:
    """All the text in the rows: what the tiny demo model's tokenizer is trained on."""
    texts: list[str] = []
    for row in rows:
        for key in ("messages", "prompt", "chosen", "rejected", "completion", "text"):
            value = row.get(key)
            if isinstance(value, str):
                texts.append(value)
            elif isinstance(value, list):
                texts.extend(m["content"] for m in value)
    return texts
