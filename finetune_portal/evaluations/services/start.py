"""Starting an evaluation run (refused up front past its cost cap; a base model's earlier answers
reused) and cancelling one."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from django.db import transaction
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.evaluations import metrics
from finetune_portal.evaluations.items import EvaluationInputError, version_items
from finetune_portal.evaluations.live import evaluation_live_publish
from finetune_portal.evaluations.models import (
    Evaluation,
    EvaluationItem,
    EvaluationOutput,
    EvaluationStatus,
    OutputStatus,
)
from finetune_portal.evaluations.services.costs import cost_estimate
from finetune_portal.evaluations.services.summary import evaluation_summarize
from finetune_portal.inference.catalog import BASE, served_model_get
from finetune_portal.providers.chat import ServedModel

MAX_MODELS = 4


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
        evaluation_live_publish(evaluation)
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
        evaluation_summarize(evaluation)
        evaluation_live_publish(evaluation)
    return stopped
