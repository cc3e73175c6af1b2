"""Asking a capture's prompts: direct calls in small claimed batches, or one provider batch submitted and
then checked. Each step is safe to deliver twice and to run after a worker died half way: an item is
claimed before it is asked and its answer saved as soon as it arrives, and a provider batch is found again
by its tag, so nothing already answered is asked (or paid for) again."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone

from finetune_portal.captures.models import Capture, CaptureItem, CaptureMode, CaptureStatus, ItemStatus
from finetune_portal.captures.services import capture_finish
from finetune_portal.core.row_claims import claim_rows
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_collect
from finetune_portal.providers.base import (
    BATCH_RUNNING,
    AnswerRefused,
    BatchRequest,
    BatchResult,
    ProviderError,
)
from finetune_portal.providers.chat import ChatSettings, ServedModel
from finetune_portal.providers.registry import get_provider

SOURCE = "capture"
BATCH_SIZE = 8
# An item claimed this long ago by a worker that never settled it (the worker died) is asked again.
STALE_CLAIM = timedelta(minutes=15)
# Seconds before a prompt that hit a rate limit, an overload or a "not ready yet" is asked again.
BACKOFF = (10, 30, 90, 180, 300)
MAX_ATTEMPTS = len(BACKOFF) + 1
BATCH_POLL_SECONDS = 60
CONTENT_FILTERED = "The provider's content filter withheld the answer."


def settings_of(capture: Capture) -> ChatSettings:
    # Temperature 0: the answer a model gives most, which is what a replacement should learn.
    return ChatSettings(temperature=0, max_tokens=capture.max_tokens)


def capture_step(*, capture_id: int) -> float | None:
    """Do the capture's next piece of work. Returns the seconds until the next step is due (0: now), or
    None when no further step is needed (finished, cancelled, or a provider batch that beat checks)."""
    capture = (
        Capture.objects.select_related("project", "created_by", "fine_tuned_model__job__project")
        .filter(pk=capture_id)
        .first()
    )
    if capture is None:
        return None
    Capture.objects.filter(pk=capture_id).update(stepped_at=timezone.now())
    model = served_model_of(capture.fine_tuned_model)
    if capture.status == CaptureStatus.CANCELLED:
        _cancel_batch(capture, model)
        return None
    if capture.status != CaptureStatus.RUNNING:
        return None
    if capture.mode == CaptureMode.BATCH:
        _batch_step(capture, model)
        return None
    return _direct_step(capture, model)


# --- direct calls -------------------------------------------------------------------------------------


def _claim(capture_id: int, limit: int) -> list[CaptureItem]:
    now = timezone.now()
    claimable = Q(status=ItemStatus.PENDING, retry_at__isnull=True) | Q(
        status=ItemStatus.PENDING, retry_at__lte=now
    )
    claimable |= Q(status=ItemStatus.RUNNING, claimed_at__lt=now - STALE_CLAIM)
    token = claim_rows(
        CaptureItem.objects.filter(capture_id=capture_id),
        claimable,
        order_by=("index",),
        limit=limit,
        running=ItemStatus.RUNNING,
        now=now,
    )
    return list(CaptureItem.objects.filter(claim=token, status=ItemStatus.RUNNING).order_by("index"))


def _ask(
    capture: Capture, model: ServedModel, item: CaptureItem
) -> tuple[ChatAnswer | None, ProviderError | None]:
    return chat_collect(
        project=capture.project,
        user=capture.created_by,
        model=model,
        messages=list(item.messages),
        settings=settings_of(capture),
        source=SOURCE,
    )


def _answer_one(capture: Capture, model: ServedModel, item: CaptureItem) -> None:
    answer, problem = _ask(capture, model, item)
    item.attempts += 1
    item.retry_at = None
    if problem is None and answer is not None:
        item.answer, item.output = answer, answer.output
        if answer.finish_reason == "content_filter":
            item.status, item.error = ItemStatus.REFUSED, CONTENT_FILTERED
        else:
            item.status, item.error = ItemStatus.DONE, ""
    elif isinstance(problem, AnswerRefused):
        item.answer, item.status, item.error = answer, ItemStatus.REFUSED, problem.message
    elif problem is not None and not problem.permanent and item.attempts < MAX_ATTEMPTS:
        wait = BACKOFF[item.attempts - 1]
        item.status, item.retry_at = ItemStatus.PENDING, timezone.now() + timedelta(seconds=wait)
        item.error = (
            f"{problem.message} Asking again in {wait} s (try {item.attempts + 1} of {MAX_ATTEMPTS})."
        )
    else:
        reason = problem.message if problem is not None else "No answer came back."
        item.status, item.error = ItemStatus.FAILED, reason
    item.save(update_fields=["answer", "output", "status", "error", "attempts", "retry_at"])


def _direct_step(capture: Capture, model: ServedModel, size: int = BATCH_SIZE) -> float | None:
    for item in _claim(capture.pk, size):
        if Capture.objects.filter(pk=capture.pk, status=CaptureStatus.CANCELLED).exists():
            CaptureItem.objects.filter(pk=item.pk, status=ItemStatus.RUNNING).update(
                status=ItemStatus.PENDING
            )
            continue
        _answer_one(capture, model, item)
    return _next_or_finish(capture)


def _next_or_finish(capture: Capture) -> float | None:
    open_items = CaptureItem.objects.filter(
        capture_id=capture.pk, status__in=[ItemStatus.PENDING, ItemStatus.RUNNING]
    )
    if not open_items.exists():
        capture_finish(capture)
        return None
    if not Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).exists():
        return None
    waiting = open_items.filter(status=ItemStatus.PENDING)
    if not waiting.exists():
        return None  # another worker is asking the last items; it finishes the capture
    due = waiting.aggregate(first=Min("retry_at"))["first"]
    if due is None or waiting.filter(retry_at__isnull=True).exists():
        return 0
    return max(0.0, (due - timezone.now()).total_seconds())


# --- the provider's batch -----------------------------------------------------------------------------


def batch_tag(capture: Capture) -> str:
    return f"capture-{capture.pk}-{int(capture.created_at.timestamp() * 1_000_000)}"


def _fail(capture: Capture, message: str) -> None:
    Capture.objects.filter(pk=capture.pk, status=CaptureStatus.RUNNING).update(
        status=CaptureStatus.FAILED, finished_at=timezone.now(), error=message
    )


def _batch_step(capture: Capture, model: ServedModel) -> None:
    provider = get_provider(model.provider)
    now = timezone.now()
    if not capture.batch_id:
        items = list(capture.items.filter(status=ItemStatus.PENDING).order_by("index"))
        requests = [BatchRequest(str(i.index), list(i.messages), settings_of(capture)) for i in items]
        try:
            batch_id = provider.batch_submit(
                project=capture.project, model=model, requests=requests, tag=batch_tag(capture)
            )
        except ProviderError as exc:
            if exc.permanent:
                _fail(capture, f"The batch was refused: {exc.message}")
            else:
                Capture.objects.filter(pk=capture.pk).update(batch_status=f"not sent yet: {exc.message}"[:32])
            return
        Capture.objects.filter(pk=capture.pk).update(
            batch_id=batch_id, batch_status="submitted", batch_checked_at=now
        )
        capture.items.filter(status=ItemStatus.PENDING).update(status=ItemStatus.RUNNING, claim=batch_id[:32])
        return
    try:
        state = provider.batch_check(project=capture.project, model=model, batch_id=capture.batch_id)
    except ProviderError as exc:
        if exc.permanent:
            _fail(capture, f"The batch could not be read: {exc.message}")
        return
    Capture.objects.filter(pk=capture.pk).update(
        batch_status=state.provider_status[:32], batch_checked_at=now
    )
    if state.state == BATCH_RUNNING:
        return
    _apply_results(capture, model, state.results)
    left = capture.items.exclude(status__in=[ItemStatus.DONE, ItemStatus.REFUSED, ItemStatus.FAILED])
    reason = f"The batch ended ({state.provider_status}) without an answer to this prompt."
    left.update(status=ItemStatus.FAILED, error=(reason + (f" {state.error}" if state.error else ""))[:2000])
    capture_finish(capture)


def _apply_results(capture: Capture, model: ServedModel, results: tuple[BatchResult, ...]) -> None:
    items = {str(i.index): i for i in capture.items.exclude(status__in=[ItemStatus.DONE, ItemStatus.REFUSED])}
    for result in results:
        item = items.get(result.key)
        if item is None:
            continue
        if result.error and result.code != "refusal":
            item.status, item.error = ItemStatus.FAILED, result.error
        else:
            item.answer = _record(capture, model, item, result)
            item.output = result.output
            item.status = ItemStatus.REFUSED if result.code == "refusal" else ItemStatus.DONE
            item.error = result.error
        item.attempts += 1
        item.save(update_fields=["answer", "output", "status", "error", "attempts"])


def _record(capture: Capture, model: ServedModel, item: CaptureItem, result: BatchResult) -> ChatAnswer:
    """The batch answer in the spend ledger, as a direct answer would be."""
    return ChatAnswer.objects.create(
        project=capture.project,
        user=capture.created_by,
        source=SOURCE,
        model_name=model.name,
        provider=model.provider,
        fine_tuned_model_id=model.fine_tuned_model_id,
        messages=list(item.messages),
        settings={"temperature": 0, "max_tokens": capture.max_tokens, "batch": capture.batch_id},
        output=result.output,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=result.cost_usd,
        error=result.error,
    )


def _cancel_batch(capture: Capture, model: ServedModel) -> None:
    if not capture.batch_id or capture.batch_status in ("cancelled", "cancelling", "completed"):
        return
    try:
        get_provider(model.provider).batch_cancel(
            project=capture.project, model=model, batch_id=capture.batch_id
        )
    except ProviderError as exc:
        Capture.objects.filter(pk=capture.pk).update(batch_status="cancel failed", error=exc.message)
        return
    Capture.objects.filter(pk=capture.pk).update(batch_status="cancelling")


# --- beat ---------------------------------------------------------------------------------------------


def captures_due(now=None) -> list[int]:
    """Running captures a step is due for: provider batches not checked for a minute, and direct captures
    no worker has touched for longer than any wait (their worker died, or the broker lost the step)."""
    now = now or timezone.now()
    batch_due = Q(mode=CaptureMode.BATCH) & (
        Q(batch_checked_at__isnull=True) | Q(batch_checked_at__lt=now - timedelta(seconds=BATCH_POLL_SECONDS))
    )
    stalled = Q(mode=CaptureMode.DIRECT) & (
        Q(stepped_at__isnull=True, created_at__lt=now - STALE_CLAIM) | Q(stepped_at__lt=now - STALE_CLAIM)
    )
    return list(
        Capture.objects.filter(batch_due | stalled, status=CaptureStatus.RUNNING).values_list("pk", flat=True)
    )
