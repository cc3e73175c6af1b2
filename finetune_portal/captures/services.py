"""Captures: which prompts a model is asked, what that will cost, starting one (once per form), cancelling,
and storing the answers as a new dataset version once every item has settled. Asking is in running.py."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone

from finetune_portal.captures.models import (
    Capture,
    CaptureItem,
    CaptureMode,
    CaptureStatus,
    ItemStatus,
)
from finetune_portal.core.audit import audit_log
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetKind, DatasetVersion
from finetune_portal.datasets.versions import dataset_create, dataset_version_store
from finetune_portal.evaluations.items import EvaluationInputError, version_items
from finetune_portal.evaluations.services import cost_estimate
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.playground.models import Probe
from finetune_portal.providers.chat import ServedModel
from finetune_portal.providers.registry import provider_or_none
from finetune_portal.registry.models import FineTunedModel, ModelStatus

START_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_TOKENS_LIMIT = 4096


class CaptureInputError(Exception):
    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CapturePlan:
    """What a capture would ask and cost, shown before it starts."""

    model: ServedModel
    source_label: str
    prompts: list[tuple[int, list[dict]]]
    mode: str
    max_tokens: int
    cost_estimate_usd: Decimal | None


def capturable_model(project, fine_tuned_model: FineTunedModel) -> ServedModel:
    """The model as a chat model, or why it cannot be captured."""
    if fine_tuned_model.job.project_id != project.pk:
        raise CaptureInputError("That model is not in this project.", field="model")
    if fine_tuned_model.status != ModelStatus.AVAILABLE or not fine_tuned_model.provider_model_id:
        raise CaptureInputError("That model is not available at its provider.", field="model")
    provider = provider_or_none(fine_tuned_model.job.provider)
    if provider is None or not provider.capabilities.inference:
        raise CaptureInputError("That model's provider cannot answer chats here.", field="model")
    sunset = provider.model_sunset(fine_tuned_model.provider_model_id)
    if sunset is not None and sunset.shut_down:
        raise CaptureInputError(
            f"{fine_tuned_model.provider_model_id} no longer answers: it was shut down on "
            f"{sunset.day:%d %B %Y}.",
            field="model",
        )
    return served_model_of(fine_tuned_model)


def capture_prompts(project, *, version: DatasetVersion | None) -> tuple[str, list[tuple[int, list[dict]]]]:
    """The prompts and their label: a version's (a chat example up to its last assistant message, a
    prompt/completion example's prompt), or the project's saved probes when no version is given."""
    if version is None:
        probes = list(Probe.objects.filter(project=project).order_by("name", "id"))
        if not probes:
            raise CaptureInputError("This project has no saved probes; save some in the playground.")
        return "saved probes", [(place, list(p.messages)) for place, p in enumerate(probes)]
    if version.dataset.project_id != project.pk:
        raise CaptureInputError("That dataset version is not in this project.", field="source")
    try:
        items = version_items(version)
    except EvaluationInputError as exc:
        raise CaptureInputError(exc.message, field="source") from exc
    return f"{version.dataset.name} v{version.number}", [(place, messages) for place, messages, _ in items]


def capture_plan(
    *, project, fine_tuned_model: FineTunedModel, version: DatasetVersion | None, mode: str, max_tokens: int
) -> CapturePlan:
    if mode not in CaptureMode.values:
        raise CaptureInputError("Choose direct calls or the Batch API.", field="mode")
    if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise CaptureInputError(f"Max tokens must be between 1 and {MAX_TOKENS_LIMIT}.", field="max_tokens")
    model = capturable_model(project, fine_tuned_model)
    provider = provider_or_none(model.provider)
    if mode == CaptureMode.BATCH and (provider is None or not provider.capabilities.batch):
        raise CaptureInputError("This model's provider has no Batch API: use direct calls.", field="mode")
    label, prompts = capture_prompts(project, version=version)
    estimate = cost_estimate(
        models=[model], items=[(place, messages, "") for place, messages in prompts], max_tokens=max_tokens
    )
    if estimate is not None and mode == CaptureMode.BATCH and provider is not None:
        estimate = (estimate * provider.batch_price_factor).quantize(Decimal("0.0001"))
    return CapturePlan(model, label, prompts, mode, max_tokens, estimate)


def capture_start(
    *,
    project,
    user,
    fine_tuned_model: FineTunedModel,
    version: DatasetVersion | None,
    mode: str,
    max_tokens: int = 512,
    token: str = "",
    enqueue: bool = True,
) -> tuple[Capture, bool]:
    """Create the capture and one item per prompt, and hand it to a worker. Returns (capture, created):
    a second submission of the same form (a double click, a resent request) finds the first one's."""
    token = token if START_TOKEN.match(token or "") else ""
    if token:
        earlier = Capture.objects.filter(project=project, start_token=token).first()
        if earlier is not None:
            return earlier, False
    plan = capture_plan(
        project=project, fine_tuned_model=fine_tuned_model, version=version, mode=mode, max_tokens=max_tokens
    )
    try:
        with transaction.atomic():
            capture = Capture.objects.create(
                project=project,
                fine_tuned_model=fine_tuned_model,
                model_name=plan.model.name,
                source_version=version,
                source_label=plan.source_label,
                mode=mode,
                max_tokens=max_tokens,
                item_count=len(plan.prompts),
                cost_estimate_usd=plan.cost_estimate_usd,
                start_token=token or None,
                created_by=user,
            )
            CaptureItem.objects.bulk_create(
                CaptureItem(capture=capture, index=place, messages=messages)
                for place, messages in plan.prompts
            )
            audit_log(
                actor=user,
                action="capture.start",
                target=capture,
                project=project,
                data={"model": plan.model.name, "source": plan.source_label, "mode": mode},
            )
            if enqueue:
                transaction.on_commit(partial(enqueue_capture, capture.pk))
    except IntegrityError:
        earlier = Capture.objects.filter(project=project, start_token=token).first() if token else None
        if earlier is None:
            raise
        return earlier, False
    return capture, True


def enqueue_capture(capture_id: int, *, countdown: float | None = None) -> None:
    from finetune_portal.captures.tasks import capture_step_task
    from finetune_portal.celery import broker_send

    send = partial(capture_step_task.apply_async, (capture_id,), countdown=countdown)
    broker_send(send, what=f"capture {capture_id}")


def capture_cancel(*, capture: Capture, user) -> bool:
    """Stop asking; a batch at the provider is cancelled by the next step. What was answered is kept on
    the page but no version is made."""
    stopped = bool(
        Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).update(
            status=CaptureStatus.CANCELLED, finished_at=timezone.now()
        )
    )
    if stopped:
        audit_log(actor=user, action="capture.cancel", target=capture, project=capture.project)
        if capture.batch_id:
            transaction.on_commit(partial(enqueue_capture, capture.pk))
    return stopped


def capture_progress(capture_id: int) -> dict[str, int]:
    counts = {status: 0 for status in ItemStatus.values}
    for status in CaptureItem.objects.filter(capture_id=capture_id).values_list("status", flat=True):
        counts[status] += 1
    counts["settled"] = counts[ItemStatus.DONE] + counts[ItemStatus.REFUSED] + counts[ItemStatus.FAILED]
    counts["total"] = sum(counts[s] for s in ItemStatus.values)
    return counts


# --- the answers as a dataset version ---------------------------------------------------------------


def answers_dataset(capture: Capture) -> Dataset:
    """The project's chat dataset of this model's answers (one per model; each capture a version)."""
    name = f"Answers of {capture.model_name}"[:120]
    dataset = Dataset.objects.filter(project=capture.project, name__iexact=name).first()
    if dataset is None:
        dataset = dataset_create(
            project=capture.project,
            name=name,
            kind=DatasetKind.CHAT,
            description=f"What {capture.model_name} answered, captured before its provider shuts it down.",
            user=capture.created_by,
        )
    elif dataset.kind != DatasetKind.CHAT:
        raise DatasetInputError(f"A dataset named {name!r} exists and is not a chat dataset; rename it.")
    return dataset


def capture_finish(capture: Capture) -> None:
    """Every item has settled: store the answered ones as a new version (content-hashed, validated as
    any upload), or fail the capture when nothing was answered."""
    if not Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).exists():
        return  # cancelled meanwhile: a cancelled capture makes no version
    answered = list(capture.items.filter(status=ItemStatus.DONE).order_by("index"))
    now = timezone.now()
    if not answered:
        Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).update(
            status=CaptureStatus.FAILED, finished_at=now, error="No prompt was answered; nothing was stored."
        )
        return
    left_out = capture.item_count - len(answered)
    note = f"answers of {capture.model_name} on {capture.source_label}, captured {now:%Y-%m-%d}"
    if left_out:
        note += f" ({left_out} unanswered left out)"
    source = capture.source_version
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        for item in answered:
            messages = [*item.messages, {"role": "assistant", "content": item.output}]
            out.write(orjson.dumps({"messages": messages}) + b"\n")
        out.flush()
        try:
            with transaction.atomic():
                version, _ = dataset_version_store(
                    dataset=answers_dataset(capture),
                    local_path=out.name,
                    user=capture.created_by,
                    original_filename=f"capture-{capture.pk}.jsonl",
                    note=note,
                    parent=source,
                    split_role=source.split_role if source is not None else "train",
                    target=source.validation_target if source is not None else None,
                    base_model=source.validation_base_model if source is not None else "",
                )
                Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).update(
                    status=CaptureStatus.SUCCEEDED, finished_at=now, result_version=version
                )
        except DatasetInputError as exc:
            Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).update(
                status=CaptureStatus.FAILED, finished_at=now, error=str(exc)
            )
