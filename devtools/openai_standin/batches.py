"""The Batch API of the stand-in: a batch of chat completions is ``in_progress`` for BATCH_SECONDS of
the stand-in's clock, then answered line by line into an output file (and an error file for the lines
that failed), as OpenAI's batches end."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from devtools.openai_standin.state import ApiError, StandinState

BATCH_SECONDS = 60
ENDPOINTS = frozenset({"/v1/chat/completions"})

Answer = Callable[[StandinState, dict[str, Any]], tuple[int, dict[str, Any]]]


def batch_create(state: StandinState, body: dict[str, Any]) -> dict[str, Any]:
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(400, "Missing required parameter: 'input_file_id'.", param="input_file_id")
    stored = state.file_get(file_id)
    if stored.obj["purpose"] != "batch":
        raise ApiError(400, f"File {file_id} was not uploaded with purpose 'batch'.", param="input_file_id")
    if body.get("endpoint") not in ENDPOINTS:
        raise ApiError(400, f"Invalid endpoint {body.get('endpoint')!r}.", param="endpoint")
    if body.get("completion_window") != "24h":
        raise ApiError(400, "completion_window must be '24h'.", param="completion_window")
    lines = [json.loads(line) for line in stored.content.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or not line.get("custom_id") or line.get("url") != body["endpoint"]:
            raise ApiError(400, f"Line {number} of the input file is not a request to {body['endpoint']}.")
    batch = {
        "id": "batch_" + secrets.token_hex(12),
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": file_id,
        "completion_window": "24h",
        "status": "in_progress",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": state.now,
        "in_progress_at": state.now,
        "expires_at": state.now + 24 * 3600,
        "completed_at": None,
        "cancelled_at": None,
        "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        "metadata": body.get("metadata") or None,
    }
    state.batches[batch["id"]] = batch
    return batch


def public(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch as OpenAI sends it: fields with no value yet are left out (the schema has them
    non-null)."""
    return {key: value for key, value in batch.items() if value is not None}


def batch_get(state: StandinState, batch_id: str, answer: Answer) -> dict[str, Any]:
    batch = state.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
    if batch["status"] == "in_progress" and state.now - batch["created_at"] >= BATCH_SECONDS:
        _finish(state, batch, answer)
    return batch


def batch_cancel(state: StandinState, batch_id: str) -> dict[str, Any]:
    batch = state.batches.get(batch_id)
    if batch is None:
        raise ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
    if batch["status"] in ("completed", "failed", "expired"):
        raise ApiError(409, f"Cannot cancel a batch with status '{batch['status']}'.")
    batch.update(status="cancelled", cancelled_at=state.now)
    return batch


def _finish(state: StandinState, batch: dict[str, Any], answer: Answer) -> None:
    output, errors = [], []
    for line in state.file_get(batch["input_file_id"]).content.splitlines():
        if not line.strip():
            continue
        request = json.loads(line)
        status, body = answer(state, request.get("body") or {})
        row = {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": request["custom_id"],
            "response": {"status_code": status, "request_id": "req_" + secrets.token_hex(8), "body": body},
            "error": None,
        }
        (output if status == 200 else errors).append(row)
    for rows, key in ((output, "output_file_id"), (errors, "error_file_id")):
        if rows:
            content = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
            stored = state._store_file(filename=f"{batch['id']}_{key}.jsonl", purpose="batch_output",
                                       content=content)  # fmt: skip
            batch[key] = stored["id"]
    batch["request_counts"] = {
        "total": len(output) + len(errors),
        "completed": len(output),
        "failed": len(errors),
    }
    batch.update(status="completed", completed_at=state.now, finalizing_at=state.now)
