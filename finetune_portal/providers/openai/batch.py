"""Chats sent through OpenAI's Batch API: one JSONL file of chat completion requests, answered within
24 hours at half the price, read back from the batch's output and error files.

A batch is tagged in its metadata, so a worker that died after OpenAI took the batch but before the
portal saved its id finds that batch again instead of sending (and paying for) a second one.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import openai

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.providers.base import (
    BATCH_DONE,
    BATCH_ENDED,
    BATCH_RUNNING,
    BatchRequest,
    BatchResult,
    BatchState,
)
from finetune_portal.providers.chat import ServedModel
from finetune_portal.providers.openai import catalog
from finetune_portal.providers.openai.chat import _chat_error, _credential, create_params, refusal_message
from finetune_portal.providers.openai.client import openai_client_for

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
TAG_KEY = "portal_batch"
PRICE_FACTOR = Decimal("0.5")
RUNNING = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


def _client(project, model: ServedModel):
    job = None
    if model.job_id is not None:
        job = FineTuningJob.objects.filter(pk=model.job_id).select_related("credential", "project").first()
    return openai_client_for(_credential(project, job))


def request_line(model: ServedModel, request: BatchRequest) -> dict[str, Any]:
    body = create_params(model, request.messages, request.settings)
    body.pop("stream", None)
    body.pop("stream_options", None)
    return {"custom_id": request.key, "method": "POST", "url": ENDPOINT, "body": body}


def _find_tagged(client, tag: str) -> str | None:
    for batch in client.batches.list(limit=100).data:
        if (batch.metadata or {}).get(TAG_KEY) == tag:
            return batch.id
    return None


def batch_submit(*, project, model: ServedModel, requests: list[BatchRequest], tag: str) -> str:
    client = _client(project, model)
    try:
        found = _find_tagged(client, tag)
        if found is not None:
            return found
        content = b"".join(json.dumps(request_line(model, r)).encode() + b"\n" for r in requests)
        uploaded = client.files.create(file=(f"{tag}.jsonl", content), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id,
            endpoint=ENDPOINT,
            completion_window=WINDOW,
            metadata={TAG_KEY: tag},
        )
    except openai.OpenAIError as exc:
        raise _chat_error(exc) from exc
    return batch.id


def batch_check(*, project, model: ServedModel, batch_id: str) -> BatchState:
    client = _client(project, model)
    try:
        batch = client.batches.retrieve(batch_id)
        counts = batch.request_counts
        completed, failed, total = (
            (counts.completed, counts.failed, counts.total) if counts is not None else (0, 0, 0)
        )
        if batch.status in RUNNING:
            return BatchState(BATCH_RUNNING, batch.status, completed, failed, total)
        results: list[BatchResult] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                results += _results(client.files.content(file_id).read(), model)
    except openai.OpenAIError as exc:
        raise _chat_error(exc) from exc
    error = "; ".join(e.message or "" for e in (batch.errors.data or [])) if batch.errors else ""
    state = BATCH_DONE if batch.status == "completed" else BATCH_ENDED
    return BatchState(state, batch.status, completed, failed, total, tuple(results), error)


def batch_cancel(*, project, model: ServedModel, batch_id: str) -> None:
    try:
        _client(project, model).batches.cancel(batch_id)
    except openai.OpenAIError as exc:
        raise _chat_error(exc) from exc


def _results(content: bytes, model: ServedModel) -> list[BatchResult]:
    results = []
    for line in content.splitlines():
        if line.strip():
            results.append(result_of(json.loads(line), model))
    return results


def result_of(line: dict[str, Any], model: ServedModel) -> BatchResult:
    """One line of an output or error file: the answer, a refusal, or the error in OpenAI's words."""
    key = str(line.get("custom_id", ""))
    response = line.get("response") or {}
    body = response.get("body") or {}
    error = line.get("error") or body.get("error")
    if error or response.get("status_code", 200) != 200:
        error = error or {}
        return BatchResult(
            key=key,
            error=str(error.get("message") or f"OpenAI answered {response.get('status_code')}"),
            code=str(error.get("code") or response.get("status_code") or ""),
        )
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    cost = catalog.chat_cost(model.provider_model, prompt_tokens=prompt, completion_tokens=completion)
    answered = BatchResult(
        key=key,
        output=str(message.get("content") or ""),
        finish_reason=str(choice.get("finish_reason") or ""),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=(cost * PRICE_FACTOR).quantize(Decimal("0.000001")) if cost is not None else None,
    )
    if message.get("refusal"):
        return replace(answered, output="", error=refusal_message(str(message["refusal"])), code="refusal")
    if answered.finish_reason == "content_filter":
        return replace(answered, error=CONTENT_FILTERED, code="refusal")
    return answered


CONTENT_FILTERED = "OpenAI's content filter withheld the answer."
