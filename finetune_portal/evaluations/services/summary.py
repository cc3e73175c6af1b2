"""An evaluation run's results: the metric per model and, for two models, the paired verdict."""

from __future__ import annotations

from finetune_portal.evaluations import metrics
from finetune_portal.evaluations.models import Evaluation, EvaluationOutput, OutputStatus
from finetune_portal.evaluations.stats import verdict


def evaluation_summarize(evaluation: Evaluation) -> None:
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
