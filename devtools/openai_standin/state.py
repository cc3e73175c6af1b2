"""The stand-in's memory: files, fine-tuning jobs, their events and checkpoints, on a clock a test controls.

Everything here is plain data shaped like OpenAI's wire objects, so the HTTP layer only serialises it.
Jobs are advanced by ``advance(seconds)``; nothing moves on its own unless the server runs in demo mode.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

ORGANIZATION = "org-standin"
ORG_SLUG = "standin-org"

BASE_MODELS = {
    # alias -> snapshot; every snapshot is also accepted as itself.
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
}
SNAPSHOTS = frozenset(BASE_MODELS.values()) | {"davinci-002", "babbage-002"}
FINAL = frozenset({"succeeded", "failed", "cancelled"})
GRADER_TYPES = frozenset({"string_check", "text_similarity", "score_model", "label_model", "python", "multi"})

# How long (clock seconds) a job spends in each phase before the next one.
VALIDATING_SECONDS = 5
QUEUED_SECONDS = 5
SECONDS_PER_STEP = 1
# How long (clock seconds) after a job succeeds its model and checkpoints still answer 404 to chats,
# as OpenAI's do for a few minutes while they deploy.
DEPLOYING_SECONDS = 60


class ApiError(Exception):
    """Answered as OpenAI's error envelope."""

    def __init__(
        self, status: int, message: str, *, type_: str = "invalid_request_error", param=None, code=None
    ):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass
class StoredFile:
    obj: dict[str, Any]
    content: bytes


@dataclass
class StoredJob:
    obj: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    plan: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # (at, what, payload)
    fail_with: dict[str, Any] | None = None


@dataclass
class Faults:
    """What the next requests should suffer. Tests set these; each entry is used up once."""

    # [(method, path prefix, status, headers[, error code])] answered instead of handling the request.
    statuses: list[tuple] = field(default_factory=list)
    # [(method, path prefix)]: handle the request, then close the connection without an answer.
    drop_after_handling: list[tuple[str, str]] = field(default_factory=list)
    # [(method, path prefix, seconds)]: handle the request, then wait this long before answering.
    delay_after_handling: list[tuple[str, str, float]] = field(default_factory=list)
    # Whole-server switches.
    null_error_object: bool = False
    results_base64: bool = False
    extra_fields: bool = False
    fail_next_job: dict[str, Any] | None = None
    # Chats whose last message contains one of these are refused by the model, or withheld by the
    # content filter (finish_reason "content_filter"), as OpenAI answers them.
    refuse_containing: list[str] = field(default_factory=list)
    filter_containing: list[str] = field(default_factory=list)


class StandinState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.now = 1_760_000_000
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, StoredJob] = {}  # insertion order = creation order
        self.batches: dict[str, dict[str, Any]] = {}  # insertion order = creation order
        self.faults = Faults()
        self.requests: list[dict[str, Any]] = []
        self._event_seq = 0
        # Real seconds between streamed chat chunks, so a client sees pieces arrive one by one.
        self.stream_chunk_delay = 0.0
        # Model id -> "YYYY-MM-DD": the ``shutdown_date`` GET /v1/models sends for it. A base snapshot's
        # date is sent on every model fine-tuned from it too, unless the fine-tuned model has its own.
        self.shutdown_dates: dict[str, str] = {}

    # -- clock ---------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        with self.lock:
            target = self.now + int(seconds)
            while True:
                due = [
                    (stored.plan[0][0], job_id)
                    for job_id, stored in self.jobs.items()
                    if stored.plan and stored.plan[0][0] <= target and stored.obj["status"] != "paused"
                ]
                if not due:
                    break
                at, job_id = min(due)
                self.now = max(self.now, at)
                stored = self.jobs[job_id]
                _, what, payload = stored.plan.pop(0)
                self._apply(stored, what, payload)
            self.now = target

    def run_to_completion(self, job_id: str | None = None) -> None:
        with self.lock:
            for _ in range(10_000):
                pending = [s for jid, s in self.jobs.items() if s.plan and (job_id in (None, jid))]
                if not pending:
                    return
                self.advance(max(1, min(s.plan[0][0] for s in pending) - self.now))

    # -- files ---------------------------------------------------------------------------------------

    def file_create(self, *, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        allowed = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}
        if purpose not in allowed:
            raise ApiError(400, f"'{purpose}' is not one of {sorted(allowed)} - 'purpose'", param="purpose")
        if purpose == "fine-tune" and not filename.endswith(".jsonl"):
            raise ApiError(400, "Invalid file format for Fine-Tuning API. Must be .jsonl", param="file")
        return self._store_file(filename=filename, purpose=purpose, content=content)

    def _store_file(self, *, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        obj = {
            "id": _new_id("file-"),
            "object": "file",
            "bytes": len(content),
            "created_at": self.now,
            "filename": filename,
            "purpose": purpose,
            # expires_at and status_details are left out when empty, as the schema has them non-null.
            "status": "processed",
        }
        self.files[obj["id"]] = StoredFile(obj=obj, content=content)
        return obj

    def file_get(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def file_delete(self, file_id: str) -> dict[str, Any]:
        self.file_get(file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def file_content(self, file_id: str) -> bytes:
        stored = self.file_get(file_id)
        if stored.obj["purpose"] == "fine-tune-results" and self.faults.results_base64:
            return base64.b64encode(stored.content)
        return stored.content

    # -- jobs ----------------------------------------------------------------------------------------

    def job_create(self, body: dict[str, Any]) -> dict[str, Any]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "Missing required parameter: 'model'.", param="model")
        snapshot = BASE_MODELS.get(model, model)
        if snapshot not in SNAPSHOTS and not self._is_fine_tuned_model(model):
            raise ApiError(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )
        training = self._job_file(body.get("training_file"), "training_file")
        validation = self._job_file(body.get("validation_file"), "validation_file", required=False)
        suffix = body.get("suffix")
        if suffix is not None and not (1 <= len(suffix) <= 64):
            raise ApiError(400, "suffix must be between 1 and 64 characters", param="suffix")
        metadata = body.get("metadata")
        if metadata is not None:
            bad = len(metadata) > 16 or any(len(k) > 64 or len(str(v)) > 512 for k, v in metadata.items())
            if bad:
                raise ApiError(400, "metadata has too many keys or values too long", param="metadata")
        method = self._method_with_defaults(body.get("method"), body.get("hyperparameters"))
        job_id = _new_id("ftjob-")
        obj: dict[str, Any] = {
            "object": "fine_tuning.job",
            "id": job_id,
            "created_at": self.now,
            "organization_id": ORGANIZATION,
            "model": snapshot,
            "status": "validating_files",
            "seed": body.get("seed") if body.get("seed") is not None else secrets.randbelow(2**31),
            "training_file": training["id"],
            "validation_file": validation["id"] if validation else None,
            "result_files": [],
            "fine_tuned_model": None,
            "finished_at": None,
            "trained_tokens": None,
            "estimated_finish": None,
            # The schema requires this (deprecated) object for every method, so it mirrors the method's.
            "hyperparameters": _legacy_hyperparameters(method),
            "method": method,
            "integrations": [],
            "metadata": metadata,
            "error": None,
        }
        stored = StoredJob(obj=obj, fail_with=self.faults.fail_next_job)
        self.faults.fail_next_job = None
        self.jobs[job_id] = stored
        self._event(stored, f"Created fine-tuning job: {job_id}")
        files = f"Validating training file: {training['id']}"
        if validation:
            files += f" and validation file: {validation['id']}"
        self._event(stored, files)
        stored.plan = [(self.now + VALIDATING_SECONDS, "validated", {})]
        stored.obj["_suffix"] = suffix
        return obj

    def _is_fine_tuned_model(self, model: str) -> bool:
        return any(s.obj.get("fine_tuned_model") == model for s in self.jobs.values())

    def _job_file(self, file_id, param: str, *, required: bool = True) -> dict[str, Any] | None:
        if file_id is None and not required:
            return None
        if not isinstance(file_id, str):
            raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, f"invalid {param}: {file_id}", param=param, code="invalid_file")
        if stored.obj["purpose"] != "fine-tune":
            raise ApiError(400, f"File {file_id} does not have purpose 'fine-tune'.", param=param)
        return stored.obj

    def _method_with_defaults(self, method: dict | None, legacy: dict | None) -> dict[str, Any]:
        method = json.loads(json.dumps(method or {"type": "supervised"}))
        kind = method.get("type", "supervised")
        if kind not in ("supervised", "dpo", "reinforcement"):
            raise ApiError(400, f"Invalid method type: {kind}", param="method.type")
        section = method.setdefault(kind, {}) or {}
        method[kind] = section
        hyper = section.setdefault("hyperparameters", {}) or {}
        section["hyperparameters"] = hyper
        if kind == "supervised" and legacy:
            hyper.update(legacy)
        defaults: dict[str, Any] = {
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
        }
        if kind == "dpo":
            defaults["beta"] = "auto"
        if kind == "reinforcement":
            defaults.update(
                reasoning_effort="default",
                compute_multiplier="auto",
                eval_interval="auto",
                eval_samples="auto",
            )
            grader = section.get("grader")
            if not isinstance(grader, dict) or grader.get("type") not in GRADER_TYPES:
                raise ApiError(
                    400, "A valid grader is required for reinforcement fine-tuning.", param="grader"
                )
            section.setdefault("response_format", None)
        for key, value in defaults.items():
            hyper.setdefault(key, value)
        self._check_range(hyper, "n_epochs", 1, 50, integer=True)
        self._check_range(hyper, "batch_size", 1, 256, integer=True)
        self._check_range(hyper, "learning_rate_multiplier", 1e-9, 1e9)
        self._check_range(hyper, "beta", 1e-9, 2)
        return {"type": kind, kind: section}

    @staticmethod
    def _check_range(hyper: dict, key: str, low: float, high: float, *, integer: bool = False) -> None:
        value = hyper.get(key, "auto")
        if value == "auto":
            return
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok:
            raise ApiError(400, f"Invalid value for hyperparameter {key}: {value!r}", param=key)

    def job_get(self, job_id: str) -> StoredJob:
        stored = self.jobs.get(job_id)
        if stored is None:
            raise ApiError(
                404, f"Could not find fine-tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found"
            )
        return stored

    def job_cancel(self, job_id: str) -> dict[str, Any]:
        stored = self.job_get(job_id)
        if stored.obj["status"] in FINAL:
            raise ApiError(400, f"Job has already completed: {job_id}", code="invalid_request_error")
        stored.plan = []
        stored.obj["status"] = "cancelled"
        stored.obj["finished_at"] = self.now
        self._event(stored, "Fine-tuning job cancelled")
        return stored.obj

    def job_pause(self, job_id: str) -> dict[str, Any]:
        stored = self.job_get(job_id)
        if stored.obj["status"] != "running":
            raise ApiError(400, f"Only running jobs can be paused: {job_id}")
        stored.obj["status"] = "paused"
        stored.obj["_paused_at"] = self.now
        self._event(stored, "Fine-tuning job paused")
        return stored.obj

    def job_resume(self, job_id: str) -> dict[str, Any]:
        stored = self.job_get(job_id)
        if stored.obj["status"] != "paused":
            raise ApiError(400, f"Only paused jobs can be resumed: {job_id}")
        paused_for = self.now - stored.obj.pop("_paused_at", self.now)
        stored.plan = [(at + paused_for, what, payload) for at, what, payload in stored.plan]
        stored.obj["status"] = "running"
        self._event(stored, "Fine-tuning job resumed")
        return stored.obj

    def force_status(self, job_id: str, status: str) -> None:
        """A test hook: make the job report any status, even one OpenAI has not invented yet."""
        stored = self.job_get(job_id)
        stored.obj["status"] = status
        if status in FINAL or status not in ("validating_files", "queued", "running", "paused"):
            stored.plan = []

    # -- lifecycle -----------------------------------------------------------------------------------

    def _apply(self, stored: StoredJob, what: str, payload: dict[str, Any]) -> None:
        obj = stored.obj
        if what == "validated":
            problem = self._validate_training(stored)
            if problem:
                self._fail(stored, problem)
                return
            obj["status"] = "queued"
            self._event(stored, "Files validated, moving job to queued state")
            stored.plan = [(self.now + QUEUED_SECONDS, "started", {})]
        elif what == "started":
            obj["status"] = "running"
            self._resolve_hyperparameters(stored)
            self._event(stored, "Fine-tuning job started")
            total = obj["_total_steps"]
            obj["estimated_finish"] = self.now + total * SECONDS_PER_STEP + 5
            stored.plan = [
                (self.now + (n + 1) * SECONDS_PER_STEP, "step", {"step": n + 1}) for n in range(total)
            ]
            stored.plan.append((self.now + total * SECONDS_PER_STEP + 1, "finish", {}))
        elif what == "step":
            self._step(stored, payload["step"])
        elif what == "finish":
            if stored.fail_with:
                self._fail(stored, stored.fail_with)
            else:
                self._succeed(stored)

    def _validate_training(self, stored: StoredJob) -> dict[str, Any] | None:
        if stored.fail_with and stored.fail_with.get("when", "validation") == "validation":
            return stored.fail_with
        content = self.files[stored.obj["training_file"]].content
        lines = [line for line in content.splitlines() if line.strip()]
        kind = stored.obj["method"]["type"]
        for number, line in enumerate(lines, start=1):
            try:
                example = json.loads(line)
            except ValueError:
                example = None
            problem = _example_problem(kind, example)
            if problem:
                return {
                    "code": "invalid_training_file",
                    "param": "training_file",
                    "message": (
                        "The job failed due to a file format error in the training file. "
                        f"Invalid file format. Example {number}: {problem}"
                    ),
                }
        if len(lines) < 10:
            return {
                "code": "invalid_training_file",
                "param": "training_file",
                "message": (
                    "The job failed due to an invalid training file. Training file has "
                    f"{len(lines)} example(s), but must have at least 10 examples"
                ),
            }
        return None

    def _resolve_hyperparameters(self, stored: StoredJob) -> None:
        obj = stored.obj
        kind = obj["method"]["type"]
        hyper = obj["method"][kind]["hyperparameters"]
        examples = len([x for x in self.files[obj["training_file"]].content.splitlines() if x.strip()])
        if hyper.get("n_epochs") == "auto":
            hyper["n_epochs"] = 3
        if hyper.get("batch_size") == "auto":
            # Keeps demo and test jobs short: about ten steps per epoch.
            hyper["batch_size"] = max(1, math.ceil(examples / 10))
        if hyper.get("learning_rate_multiplier") == "auto":
            hyper["learning_rate_multiplier"] = 1.8
        if hyper.get("beta") == "auto":
            hyper["beta"] = 0.1
        obj["hyperparameters"] = _legacy_hyperparameters(obj["method"])
        steps_per_epoch = math.ceil(examples / hyper["batch_size"])
        obj["_steps_per_epoch"] = steps_per_epoch
        obj["_total_steps"] = steps_per_epoch * hyper["n_epochs"]
        obj["_tokens_per_epoch"] = max(1, len(self.files[obj["training_file"]].content) // 4)

    def _step(self, stored: StoredJob, step: int) -> None:
        obj = stored.obj
        total = obj["_total_steps"]
        train_loss = round(2.0 * math.exp(-3.0 * step / total) + 0.05, 5)
        data: dict[str, Any] = {
            "step": step,
            "total_steps": total,
            "train_loss": train_loss,
            "train_mean_token_accuracy": round(min(1.0, 0.4 + 0.6 * step / total), 5),
        }
        message = f"Step {step}/{total}: training loss={train_loss:.2f}"
        has_validation = obj["validation_file"] is not None
        if has_validation and step % 2 == 0:
            data["valid_loss"] = round(train_loss * 1.1, 5)
            data["valid_mean_token_accuracy"] = round(data["train_mean_token_accuracy"] * 0.95, 5)
            message += f", validation loss={data['valid_loss']:.2f}"
        end_of_epoch = step % obj["_steps_per_epoch"] == 0
        if has_validation and end_of_epoch:
            data["full_valid_loss"] = round(train_loss * 1.15, 5)
            data["full_valid_mean_token_accuracy"] = round(data["train_mean_token_accuracy"] * 0.9, 5)
            message += f", full validation loss={data['full_valid_loss']:.2f}"
        self._event(stored, message, type_="metrics", data=data)
        obj.setdefault("_metrics", []).append(data)
        if end_of_epoch:
            model = self._model_name(stored)
            name = (
                model
                if step == total
                else f"{model.rsplit(':', 1)[0]}:{secrets.token_hex(4)}:ckpt-step-{step}"
            )
            checkpoint = {
                "object": "fine_tuning.job.checkpoint",
                "id": _new_id("ftckpt_"),
                "created_at": self.now,
                "fine_tuning_job_id": obj["id"],
                "fine_tuned_model_checkpoint": name,
                "step_number": step,
                "metrics": {k: v for k, v in data.items() if k != "total_steps"},
            }
            stored.checkpoints.append(checkpoint)
            self._event(stored, f"Checkpoint created at step {step} with Snapshot ID: {name}")

    def _model_name(self, stored: StoredJob) -> str:
        obj = stored.obj
        if "_model_name" not in obj:
            suffix = obj.get("_suffix") or ""
            obj["_model_name"] = f"ft:{obj['model']}:{ORG_SLUG}:{suffix}:{secrets.token_hex(4)}"
        return obj["_model_name"]

    def _succeed(self, stored: StoredJob) -> None:
        obj = stored.obj
        model = self._model_name(stored)
        columns = [
            "step",
            "train_loss",
            "train_accuracy",
            "valid_loss",
            "valid_mean_token_accuracy",
            "full_valid_loss",
            "full_valid_mean_token_accuracy",
        ]
        keys = dict(
            zip(columns, [*["step", "train_loss", "train_mean_token_accuracy"], *columns[3:]], strict=True)
        )
        rows = [",".join(columns)]
        for point in obj.get("_metrics", []):
            rows.append(
                ",".join("" if point.get(keys[c]) is None else str(point.get(keys[c])) for c in columns)
            )
        results = self._store_file(
            filename="step_metrics.csv",
            purpose="fine-tune-results",
            content=("\n".join(rows) + "\n").encode(),
        )
        obj.update(
            status="succeeded",
            fine_tuned_model=model,
            finished_at=self.now,
            trained_tokens=obj["_tokens_per_epoch"]
            * obj["method"][obj["method"]["type"]]["hyperparameters"]["n_epochs"],
            result_files=[results["id"]],
            estimated_finish=None,
        )
        self._event(stored, f"New fine-tuned model created: {model}")
        self._event(stored, "The job has successfully completed")

    def _fail(self, stored: StoredJob, problem: dict[str, Any]) -> None:
        stored.plan = []
        stored.obj.update(
            status="failed",
            finished_at=self.now,
            error={
                "code": problem.get("code", "invalid_training_file"),
                "message": problem["message"],
                "param": problem.get("param"),
            },
        )
        self._event(stored, problem["message"], level="error")

    def _event(
        self, stored: StoredJob, message: str, *, level: str = "info", type_: str = "message", data=None
    ):
        self._event_seq += 1
        stored.events.append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{self._event_seq:08d}{secrets.token_hex(6)}",
                "created_at": self.now,
                "level": level,
                "message": message,
                "type": type_,
                "data": data if data is not None else {},
            }
        )

    # -- wire views ----------------------------------------------------------------------------------

    def job_public(self, stored: StoredJob) -> dict[str, Any]:
        obj = {k: v for k, v in stored.obj.items() if not k.startswith("_")}
        obj = json.loads(json.dumps(obj))
        if obj["error"] is None and self.faults.null_error_object:
            obj["error"] = {"code": None, "message": None, "param": None}
        if self.faults.extra_fields:
            obj["user_provided_suffix"] = stored.obj.get("_suffix")
            obj["shared_with_openai"] = False
            obj["usage_metrics"] = {"standin_note": "a field no SDK knows"}
        return obj

    def models(self) -> list[dict[str, Any]]:
        models = [
            {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
            for name in sorted(SNAPSHOTS)
        ]
        for model in models:
            self._with_shutdown_date(model, model["id"])
        for stored in self.jobs.values():
            if stored.obj.get("fine_tuned_model"):
                model = {
                    "id": stored.obj["fine_tuned_model"],
                    "object": "model",
                    "created": stored.obj["finished_at"],
                    "owned_by": ORG_SLUG,
                }
                models.append(self._with_shutdown_date(model, stored.obj["model"]))
        return models

    def _with_shutdown_date(self, model: dict[str, Any], base: str) -> dict[str, Any]:
        day = self.shutdown_dates.get(model["id"]) or self.shutdown_dates.get(BASE_MODELS.get(base, base))
        if day:
            model["shutdown_date"] = day
        return model

    def chat_model_check(self, model: str) -> None:
        """Refuse a chat with a model this account cannot use (yet), as OpenAI words it."""
        if model in SNAPSHOTS or model in BASE_MODELS:
            return
        for stored in self.jobs.values():
            obj = stored.obj
            names = {obj.get("fine_tuned_model")} | {
                c["fine_tuned_model_checkpoint"] for c in stored.checkpoints
            }
            if obj.get("status") == "succeeded" and model in names:
                if self.now - obj["finished_at"] >= DEPLOYING_SECONDS:
                    return
                break
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )


def _example_problem(kind: str, example: Any) -> str:
    """The first thing wrong with one training line for this method, or "" (the checks §8 lists)."""
    if not isinstance(example, dict):
        return "is not a JSON object."
    if kind == "dpo":
        missing = [k for k in ("input", "preferred_output", "non_preferred_output") if k not in example]
        if missing:
            return f"is missing {', '.join(missing)}."
        if not isinstance(example["input"], dict) or not isinstance(example["input"].get("messages"), list):
            return "input must hold a messages list."
        return ""
    if "prompt" in example and "completion" in example and kind == "supervised":
        return ""
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return "is missing a messages list."
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            return "has a message without a role."
    if kind == "supervised" and not any(m.get("role") == "assistant" for m in messages):
        return "has no assistant message."
    return ""


def _legacy_hyperparameters(method: dict[str, Any]) -> dict[str, Any]:
    hyper = method[method["type"]]["hyperparameters"]
    return {key: hyper[key] for key in ("n_epochs", "batch_size", "learning_rate_multiplier")}


def page_after(items: list[dict[str, Any]], *, after: str | None, limit: int) -> tuple[list[dict], bool]:
    """Cursor paging over an already ordered list: the items after ``after``, and whether more remain."""
    start = 0
    if after:
        ids = [item["id"] for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    chunk = items[start : start + limit]
    return chunk, start + limit < len(items)
