"""Answering and scoring an evaluation's items in batches that any worker may pick up again: rows
claimed by compare-and-set, each question asked once (a paid answer written before the next question),
the answers scored together as they are written, and the summary when the last row settles."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from finetune_portal.core.row_claims import claim_rows
from finetune_portal.evaluations import metrics
from finetune_portal.evaluations.live import evaluation_live_publish
from finetune_portal.evaluations.models import Evaluation, EvaluationOutput, EvaluationStatus, OutputStatus
from finetune_portal.evaluations.services.costs import JUDGE_MAX_TOKENS
from finetune_portal.evaluations.services.summary import evaluation_summarize
from finetune_portal.inference.catalog import served_model_get
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import answers_save, chat_collect
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatSettings, ServedModel

logger = logging.getLogger(__name__)

SOURCE = "evaluation"
BATCH_SIZE = 32
# Answers that cost nothing are written together, at most this many seconds after they came: a commit per
# answer is a large share of a small local model's time per item. A paid answer is written at once, so a
# worker that dies never has it asked (and paid for) again; a free one may be asked again.
WRITE_EVERY_SECONDS = 1.0
SETTLED_FIELDS = ["answer", "output", "score", "note", "error", "status"]
# A cancel is looked for before a row is asked once this long has passed since the last look (the batch
# looks as it starts): a query per row would be a large share of a small local model's time per item,
# and a slow (paid) answer takes longer than this, so each of those is still preceded by a look.
CANCEL_CHECK_SECONDS = 0.5
# An output claimed this long ago by a worker that never settled it (the worker died) may be claimed
# again by the redelivered batch.
STALE_CLAIM = timedelta(minutes=15)


def _claim(evaluation_id: int, limit: int) -> list[EvaluationOutput]:
    """Claim up to ``limit`` outputs in one compare-and-set: the update only takes rows still claimable
    and marks them with this claim's own token, so two deliveries of a batch never ask the same
    question twice."""
    now = timezone.now()
    # A stale row that already has its answer is claimed too: it is only scored, never asked again.
    claimable = Q(status=OutputStatus.PENDING) | Q(
        status=OutputStatus.RUNNING, claimed_at__lt=now - STALE_CLAIM
    )
    token = claim_rows(
        EvaluationOutput.objects.filter(evaluation_id=evaluation_id),
        claimable,
        order_by=("item__index", "id"),
        limit=limit,
        running=OutputStatus.RUNNING,
        now=now,
    )
    return list(
        EvaluationOutput.objects.filter(claim=token, status=OutputStatus.RUNNING)
        .select_related("item", "judge_answer")
        .order_by("item__index", "id")
    )


def _ask(
    evaluation: Evaluation, model: ServedModel, messages: list[dict], max_tokens: int, *, save_free: bool
) -> ChatAnswer:
    """The recorded answer, failed ones included (their error is on the record); a provider that refused
    before answering raises. A free answer is left unsaved with ``save_free=False``: it is saved with its
    row (``_write_settled``)."""
    answer, problem = chat_collect(
        project=evaluation.project,
        user=evaluation.created_by,
        model=model,
        messages=messages,
        settings=ChatSettings(temperature=0, max_tokens=max_tokens),
        source=SOURCE,
        save_free=save_free,
    )
    if answer is None:
        assert problem is not None  # noqa: S101 - chat_collect gives one or the other
        raise problem
    return answer


def _answer_one(evaluation: Evaluation, row: EvaluationOutput, models: dict[str, ServedModel | None]) -> bool:
    """Answer the row (unless it has its answer), leaving its settled fields for the caller to write; a
    judged row is scored here, any other when it is written (the answers written together are scored
    together). True when it was answered just now at a price (to be written at once)."""
    model = models[row.model_name]
    if model is None:
        row.status, row.error = OutputStatus.FAILED, "This model is no longer available to chat with."
        return False
    paid = False
    if row.answer_id is None:
        # A judged row keeps its answer before the judge is asked, so it is saved at once.
        answer = _ask(
            evaluation,
            model,
            list(row.item.messages),
            evaluation.max_tokens,
            save_free=evaluation.metric == metrics.JUDGE,
        )
        row.answer, row.output = answer, answer.output
        paid = bool(answer.cost_usd)
        if answer.error:
            row.status, row.error = OutputStatus.FAILED, answer.error
            return paid
        if evaluation.metric == metrics.JUDGE:
            # Kept before the judge is asked (a second paid call), so a retry never asks the model again.
            row.save(update_fields=["answer", "output"])
    if evaluation.metric == metrics.JUDGE:
        judge = models[evaluation.judge_model]
        if judge is None:
            row.status, row.error = OutputStatus.FAILED, "The judge model is no longer available."
            return paid
        judged = row.judge_answer
        if judged is None:
            judged = _ask(
                evaluation,
                judge,
                metrics.judge_messages(
                    rubric=evaluation.rubric,
                    prompt=row.item.prompt_text,
                    reference=row.item.reference,
                    answer=row.output,
                ),
                JUDGE_MAX_TOKENS,
                save_free=True,
            )
            row.judge_answer = judged
            row.save(update_fields=["judge_answer"])
        score, reason = metrics.parse_judgement(judged.output)
        row.score, row.note = score, reason or judged.error
        if score is None:
            row.error = judged.error or "The judge gave no score from 1 to 10."
        row.status = OutputStatus.DONE if row.score is not None else OutputStatus.FAILED
    return paid


def evaluation_run_batch(*, evaluation_id: int, size: int = BATCH_SIZE) -> bool:
    """Answer and score up to ``size`` outputs; True while work is left. Safe to deliver twice and to
    run after a worker died half way: only claimed rows are asked, and a row that already has its
    answer is only scored."""
    evaluation = Evaluation.objects.select_related("project", "created_by").filter(pk=evaluation_id).first()
    if evaluation is None or evaluation.status != EvaluationStatus.RUNNING:
        return False
    names = [*evaluation.model_names, *([evaluation.judge_model] if evaluation.judge_model else [])]
    models = {name: served_model_get(evaluation.project, name) for name in names}
    settled: list[EvaluationOutput] = []
    written_at = checked_at = time.monotonic()
    cancelled = False
    try:
        for row in _claim(evaluation_id, size):
            if not cancelled and time.monotonic() - checked_at >= CANCEL_CHECK_SECONDS:
                cancelled = Evaluation.objects.filter(
                    pk=evaluation_id, status=EvaluationStatus.CANCELLED
                ).exists()
                checked_at = time.monotonic()
            if cancelled:
                EvaluationOutput.objects.filter(pk=row.pk, status=OutputStatus.RUNNING).update(
                    status=OutputStatus.PENDING
                )
                if settled:  # answered before the cancel came: written, and counted in its summary
                    _write_settled(evaluation, settled)
                    evaluation.refresh_from_db()
                    evaluation_summarize(evaluation)
                continue
            try:
                paid = _answer_one(evaluation, row, models)
            except ProviderError as exc:
                row.status, row.error, paid = OutputStatus.FAILED, exc.message, False
            settled.append(row)
            if paid or time.monotonic() - written_at >= WRITE_EVERY_SECONDS:
                _write_settled(evaluation, settled)
                written_at = time.monotonic()
    finally:
        _write_settled(evaluation, settled)
    return _work_left_or_finish(evaluation_id)


def _score_together(evaluation: Evaluation, rows: list[EvaluationOutput]) -> None:
    """Score the answered rows still waiting for their score (every metric but the judge's), in one
    call: chrF counts a batch's n-grams together."""
    waiting = [row for row in rows if row.status == OutputStatus.RUNNING and not row.error]
    scores = metrics.item_scores(
        evaluation.metric,
        [row.output for row in waiting],
        [row.item.reference for row in waiting],
        schema=evaluation.json_schema,
    )
    for row, (score, note) in zip(waiting, scores, strict=True):
        row.score, row.note = score, note
        row.status = OutputStatus.DONE if score is not None else OutputStatus.FAILED


def _write_settled(evaluation: Evaluation, rows: list[EvaluationOutput]) -> None:
    if rows:
        _score_together(evaluation, rows)
        # Free answers come unsaved: saved together, then the rows that point at them. A row whose
        # answer is saved already has its id; its answer is not loaded (a query per row) to find that out.
        answers_save([row.answer for row in rows if row.answer_id is None and row.answer is not None])
        # One INSERT ... ON CONFLICT (id) DO UPDATE of the settled fields, rows as plain parameters:
        # bulk_update builds a CASE expression per field and row, which took longer than a local
        # model's answer. The rows exist (claimed above), so nothing is inserted.
        EvaluationOutput.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["id"], update_fields=SETTLED_FIELDS
        )
        rows.clear()
        evaluation_live_publish(evaluation)


def _work_left_or_finish(evaluation_id: int) -> bool:
    open_rows = EvaluationOutput.objects.filter(
        evaluation_id=evaluation_id, status__in=[OutputStatus.PENDING, OutputStatus.RUNNING]
    )
    if open_rows.filter(status=OutputStatus.PENDING).exists():
        return Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.RUNNING).exists()
    if open_rows.exists():
        return False  # another worker is answering the last rows; it finishes the run
    evaluation = Evaluation.objects.get(pk=evaluation_id)
    if evaluation.status == EvaluationStatus.RUNNING:
        evaluation_summarize(evaluation)
        Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.RUNNING).update(
            status=EvaluationStatus.SUCCEEDED, finished_at=timezone.now(), results=evaluation.results
        )
        evaluation_live_publish(evaluation)
    return False


def evaluation_run_in_process(*, evaluation_id: int, progress=None) -> Evaluation:
    """Run every batch here, one after another (the command uses this when it is not handing the run to
    a worker); ``progress(done, total)`` is told after each batch."""
    while evaluation_run_batch(evaluation_id=evaluation_id):
        if progress is not None:
            progress(*evaluation_progress(evaluation_id))
    if progress is not None:
        progress(*evaluation_progress(evaluation_id))
    return Evaluation.objects.get(pk=evaluation_id)


def evaluation_progress(evaluation_id: int) -> tuple[int, int]:
    rows = EvaluationOutput.objects.filter(evaluation_id=evaluation_id)
    return rows.filter(status__in=[OutputStatus.DONE, OutputStatus.FAILED]).count(), rows.count()
