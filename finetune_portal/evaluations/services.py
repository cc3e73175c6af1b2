"""Evaluation runs: starting one (with its cost estimate and cap), answering and scoring its items in
batches that any worker may pick up again, cancelling, and the summary and verdict at the end."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.core.row_claims import claim_rows
from finetune_portal.evaluations import metrics
from finetune_portal.evaluations.items import EvaluationInputError, version_items
from finetune_portal.evaluations.models import (
    Evaluation,
    EvaluationItem,
    EvaluationOutput,
    EvaluationStatus,
    OutputStatus,
)
from finetune_portal.evaluations.stats import verdict
from finetune_portal.inference.catalog import BASE, served_model_get
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_collect
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatSettings, ServedModel
from finetune_portal.providers.registry import get_provider

logger = logging.getLogger(__name__)

SOURCE = "evaluation"
BATCH_SIZE = 32
# Answers that cost nothing are written together, at most this many seconds after they came: a commit per
# answer is a large share of a small local model's time per item. A paid answer is written at once, so a
# worker that dies never has it asked (and paid for) again; a free one may be asked again.
WRITE_EVERY_SECONDS = 1.0
SETTLED_FIELDS = ["answer", "output", "score", "note", "error", "status"]
# An output claimed this long ago by a worker that never settled it (the worker died) may be claimed
# again by the redelivered batch.
STALE_CLAIM = timedelta(minutes=15)
JUDGE_MAX_TOKENS = 200
MAX_MODELS = 4


# --- starting -------------------------------------------------------------------------------------


def _count_tokens(texts: list[str]) -> list[int]:
    from finetune_portal.datasets.tokenizers import tiktoken_encoding

    encoding = tiktoken_encoding("o200k_base")
    return [len(t) for t in encoding.encode_batch(texts, disallowed_special=())]


def cost_estimate(
    *,
    models: list[ServedModel],
    items: list[tuple[int, list[dict], str]],
    max_tokens: int,
    judge: ServedModel | None = None,
    rubric: str = "",
) -> Decimal | None:
    """The most the answers can cost at the providers' chat prices: every item's prompt tokens plus
    ``max_tokens`` out per model (and the judge's reading of each answer). None when nothing is billed
    per token."""
    priced = [*models, *([judge] if judge is not None else [])]
    if all(get_provider(m.provider).chat_cost_estimate(m, 1, 1) is None for m in priced):
        return None  # nothing here is billed per token: no need to count
    prompts = _count_tokens(["\n".join(str(m["content"]) for m in messages) for _, messages, _ in items])
    references = _count_tokens([reference for _, _, reference in items])
    prompt_tokens = sum(prompts) + 4 * sum(len(messages) for _, messages, _ in items)
    total: Decimal | None = None
    for model in models:
        cost = get_provider(model.provider).chat_cost_estimate(model, prompt_tokens, max_tokens * len(items))
        if cost is not None:
            total = (total or Decimal(0)) + cost
    if judge is not None:
        (rubric_tokens,) = _count_tokens([rubric + metrics.JUDGE_INSTRUCTIONS])
        judge_prompt = (
            prompt_tokens + sum(references) + (max_tokens + rubric_tokens + 20) * len(items)
        ) * len(models)
        cost = get_provider(judge.provider).chat_cost_estimate(
            judge, judge_prompt, JUDGE_MAX_TOKENS * len(items) * len(models)
        )
        if cost is not None:
            total = (total or Decimal(0)) + cost
    return total.quantize(Decimal("0.0001")) if total is not None else None


def _served(project, name: str, field: str) -> ServedModel:
    model = served_model_get(project, name)
    if model is None:
        raise EvaluationInputError(f"{name!r} is not a model this project can chat with.", field=field)
    return model


def evaluation_start(
    *,
    project,
    user,
    version,
    model_names: list[str],
    metric: str,
    judge_model: str = "",
    rubric: str = "",
    json_schema: dict | None = None,
    max_tokens: int = 128,
    cost_cap_usd: Decimal | None = None,
    job=None,
    enqueue: bool = True,
) -> Evaluation:
    """Create the run, its items and one output row per (item, model), and send its first batch.
    Refused up front when the cost estimate passes the cap. A base model's outputs from an earlier
    finished run on the same version and settings are reused instead of asked (and paid) again."""
    if metric not in metrics.METRICS:
        raise EvaluationInputError(f"Unknown metric {metric!r}.", field="metric")
    names = list(dict.fromkeys(n.strip() for n in model_names if n.strip()))
    if not names:
        raise EvaluationInputError("Choose at least one model.", field="models")
    if len(names) > MAX_MODELS:
        raise EvaluationInputError(f"Evaluate at most {MAX_MODELS} models at once.", field="models")
    if not 1 <= max_tokens <= 4096:
        raise EvaluationInputError("Max tokens must be between 1 and 4096.", field="max_tokens")
    if version.dataset.project_id != project.pk:
        raise EvaluationInputError("That dataset version is not in this project.", field="version")
    models = [_served(project, name, "models") for name in names]
    judge = None
    if metric == metrics.JUDGE:
        if not judge_model.strip():
            raise EvaluationInputError("Choose the judge model.", field="judge_model")
        if not rubric.strip():
            raise EvaluationInputError("Write the rubric the judge grades by.", field="rubric")
        judge = _served(project, judge_model.strip(), "judge_model")
    if json_schema is not None and not isinstance(json_schema, dict):
        raise EvaluationInputError("The JSON Schema must be a JSON object.", field="json_schema")
    items = version_items(version)
    estimate = cost_estimate(models=models, items=items, max_tokens=max_tokens, judge=judge, rubric=rubric)
    if cost_cap_usd is not None and estimate is not None and estimate > cost_cap_usd:
        raise EvaluationInputError(
            f"The estimated cost, ${estimate}, passes the cap of ${cost_cap_usd}: raise the cap, "
            "lower max tokens or evaluate a smaller version.",
            field="cost_cap_usd",
        )
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            project=project,
            version=version,
            metric=metric,
            model_names=names,
            model_labels=[m.label for m in models],
            judge_model=judge.name if judge else "",
            rubric=rubric.strip() if judge else "",
            json_schema=json_schema if metric == metrics.JSON_VALID else None,
            max_tokens=max_tokens,
            item_count=len(items),
            cost_estimate_usd=estimate,
            cost_cap_usd=cost_cap_usd,
            job=job,
            created_by=user,
        )
        rows = EvaluationItem.objects.bulk_create(
            EvaluationItem(evaluation=evaluation, index=place, messages=messages, reference=reference)
            for place, messages, reference in items
        )
        reused = {m.name: _reusable(evaluation, m) for m in models if m.kind == BASE}
        EvaluationOutput.objects.bulk_create(
            _output_row(evaluation, item, model.name, reused.get(model.name))
            for model in models
            for item in rows
        )
        audit_log(
            actor=user,
            action="evaluation.start",
            target=evaluation,
            project=project,
            data={"models": names, "metric": metric, "version": version.pk},
        )
        if enqueue:
            transaction.on_commit(partial(_enqueue, evaluation.pk))
    return evaluation


def _reusable(evaluation: Evaluation, model: ServedModel) -> dict[int, EvaluationOutput]:
    earlier = (
        Evaluation.objects.filter(
            project=evaluation.project,
            version=evaluation.version,
            metric=evaluation.metric,
            max_tokens=evaluation.max_tokens,
            judge_model=evaluation.judge_model,
            rubric=evaluation.rubric,
            status=EvaluationStatus.SUCCEEDED,
            outputs__model_name=model.name,
        )
        .exclude(pk=evaluation.pk)
        .distinct()
        .order_by("-created_at")
        .first()
    )
    if earlier is None or earlier.json_schema != evaluation.json_schema:
        return {}
    done = EvaluationOutput.objects.filter(
        evaluation=earlier, model_name=model.name, status=OutputStatus.DONE
    ).select_related("item")
    return {row.item.index: row for row in done}


def _output_row(
    evaluation: Evaluation, item: EvaluationItem, name: str, reused: dict[int, EvaluationOutput] | None
) -> EvaluationOutput:
    earlier = (reused or {}).get(item.index)
    if earlier is None:
        return EvaluationOutput(evaluation=evaluation, item=item, model_name=name)
    return EvaluationOutput(
        evaluation=evaluation,
        item=item,
        model_name=name,
        status=OutputStatus.DONE,
        output=earlier.output,
        score=earlier.score,
        note=earlier.note or f"Reused from evaluation {earlier.evaluation_id}.",
    )


def _enqueue(evaluation_id: int) -> None:
    from finetune_portal.celery import broker_send
    from finetune_portal.evaluations.tasks import evaluation_batch_task

    broker_send(partial(evaluation_batch_task.delay, evaluation_id), what=f"evaluation {evaluation_id}")


def evaluation_cancel(*, evaluation: Evaluation, user) -> bool:
    """Stop the run: the batch in flight stops before its next item; what was scored is kept."""
    stopped = bool(
        Evaluation.objects.filter(pk=evaluation.pk, status=EvaluationStatus.RUNNING).update(
            status=EvaluationStatus.CANCELLED, finished_at=timezone.now()
        )
    )
    if stopped:
        audit_log(actor=user, action="evaluation.cancel", target=evaluation, project=evaluation.project)
        evaluation.refresh_from_db()
        _summarize(evaluation)
    return stopped


# --- answering ------------------------------------------------------------------------------------


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


def _ask(evaluation: Evaluation, model: ServedModel, messages: list[dict], max_tokens: int) -> ChatAnswer:
    """The recorded answer, failed ones included (their error is on the record); a provider that refused
    before answering raises."""
    answer, problem = chat_collect(
        project=evaluation.project,
        user=evaluation.created_by,
        model=model,
        messages=messages,
        settings=ChatSettings(temperature=0, max_tokens=max_tokens),
        source=SOURCE,
    )
    if answer is None:
        assert problem is not None  # noqa: S101 - chat_collect gives one or the other
        raise problem
    return answer


def _answer_one(evaluation: Evaluation, row: EvaluationOutput, models: dict[str, ServedModel | None]) -> bool:
    """Answer (unless it has its answer) and score the row, leaving its settled fields for the caller to
    write; True when it was answered just now at a price (to be written at once)."""
    model = models[row.model_name]
    if model is None:
        row.status, row.error = OutputStatus.FAILED, "This model is no longer available to chat with."
        return False
    paid = False
    if row.answer_id is None:
        answer = _ask(evaluation, model, list(row.item.messages), evaluation.max_tokens)
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
            )
            row.judge_answer = judged
            row.save(update_fields=["judge_answer"])
        score, reason = metrics.parse_judgement(judged.output)
        row.score, row.note = score, reason or judged.error
        if score is None:
            row.error = judged.error or "The judge gave no score from 1 to 10."
    else:
        row.score, row.note = metrics.item_score(
            evaluation.metric, row.output, row.item.reference, schema=evaluation.json_schema
        )
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
    written_at = time.monotonic()
    try:
        for row in _claim(evaluation_id, size):
            if Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.CANCELLED).exists():
                EvaluationOutput.objects.filter(pk=row.pk, status=OutputStatus.RUNNING).update(
                    status=OutputStatus.PENDING
                )
                if settled:  # scored before the cancel came: written, and counted in its summary
                    _write_settled(settled)
                    evaluation.refresh_from_db()
                    _summarize(evaluation)
                continue
            try:
                paid = _answer_one(evaluation, row, models)
            except ProviderError as exc:
                row.status, row.error, paid = OutputStatus.FAILED, exc.message, False
            settled.append(row)
            if paid or time.monotonic() - written_at >= WRITE_EVERY_SECONDS:
                _write_settled(settled)
                written_at = time.monotonic()
    finally:
        _write_settled(settled)
    return _work_left_or_finish(evaluation_id)


def _write_settled(rows: list[EvaluationOutput]) -> None:
    if rows:
        EvaluationOutput.objects.bulk_update(rows, SETTLED_FIELDS)
        rows.clear()


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
        _summarize(evaluation)
        Evaluation.objects.filter(pk=evaluation_id, status=EvaluationStatus.RUNNING).update(
            status=EvaluationStatus.SUCCEEDED, finished_at=timezone.now(), results=evaluation.results
        )
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


# --- results --------------------------------------------------------------------------------------


def _summarize(evaluation: Evaluation) -> None:
    """Per model: the metric over its scored items (failed answers listed apart); for two or more
    models: A against B on the items both have a score for."""
    info = evaluation.metric_info
    scores: dict[str, dict[int, float]] = {}
    per_model = {}
    for name in evaluation.model_names:
        rows = list(
            EvaluationOutput.objects.filter(evaluation=evaluation, model_name=name).select_related("item")
        )
        scored = [r for r in rows if r.status == OutputStatus.DONE and r.score is not None]
        scores[name] = {r.item.index: float(r.score) for r in scored if r.score is not None}
        details = metrics.summary(
            evaluation.metric,
            [r.output for r in scored],
            [r.item.reference for r in scored],
            [float(r.score) for r in scored if r.score is not None],
        )
        details["failed"] = sum(1 for r in rows if r.status == OutputStatus.FAILED)
        per_model[name] = details
    results: dict = {"models": per_model}
    if len(evaluation.model_names) >= 2:
        a_name, b_name = evaluation.model_names[:2]
        labels = dict(
            zip(evaluation.model_names, evaluation.model_labels or evaluation.model_names, strict=False)
        )
        common = sorted(set(scores[a_name]) & set(scores[b_name]))
        results["verdict"] = verdict(
            a_name=labels.get(a_name, a_name),
            b_name=labels.get(b_name, b_name),
            a=[scores[a_name][i] for i in common],
            b=[scores[b_name][i] for i in common],
            binary=info.binary,
            points=info.points,
        ).as_json()
    if evaluation.judge_model:
        results["judge"] = {"model": evaluation.judge_model, "rubric": evaluation.rubric}
    evaluation.results = results
    Evaluation.objects.filter(pk=evaluation.pk).update(results=results)


def evaluation_item_fix(*, evaluation: Evaluation, item: EvaluationItem, reference: str, user):
    """A new version of the evaluated dataset with this item's reference corrected (its parent the
    evaluated version). Returns (version, created): the same fix twice is the same version."""
    from finetune_portal.datasets.errors import DatasetInputError
    from finetune_portal.datasets.versions import dataset_version_store
    from finetune_portal.evaluations.items import with_fixed_reference

    reference = (reference or "").strip()
    if not reference:
        raise EvaluationInputError("The corrected reference is empty.", field="reference")
    version = evaluation.version
    content = with_fixed_reference(version, item.index, reference)
    handle, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        with transaction.atomic():
            try:
                fixed, created = dataset_version_store(
                    dataset=version.dataset,
                    local_path=path,
                    user=user,
                    original_filename=f"{version.dataset.name}-v{version.number}-fix-{item.index}.jsonl",
                    note=(
                        f"v{version.number} with example {item.index + 1} corrected "
                        f"after evaluation {evaluation.pk}"
                    ),
                    parent=version,
                    split_role=version.split_role,
                    target=version.validation_target,
                    base_model=version.validation_base_model,
                )
            except DatasetInputError as exc:
                raise EvaluationInputError(str(exc)) from exc
            if created:
                audit_log(
                    actor=user,
                    action="evaluation.item.fix",
                    target=fixed,
                    project=evaluation.project,
                    data={"evaluation": evaluation.pk, "item": item.index},
                )
    finally:
        os.unlink(path)
    return fixed, created
