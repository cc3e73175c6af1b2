"""Reading evaluations: the downloadable result, items worst first, and results per model."""

from __future__ import annotations

from django.db.models import QuerySet

from finetune_portal.evaluations.models import Evaluation, EvaluationItem, EvaluationOutput, OutputStatus


def project_evaluations(project) -> QuerySet[Evaluation]:
    return Evaluation.objects.filter(project=project).select_related("version__dataset")


def evaluation_result_json(evaluation: Evaluation) -> dict:
    """The whole result, as ``manage.py evaluate --json`` prints it and the page downloads it."""
    names = list(evaluation.model_names)
    outputs: dict[int, dict[str, EvaluationOutput]] = {}
    for row in EvaluationOutput.objects.filter(evaluation=evaluation).select_related("item"):
        outputs.setdefault(row.item.index, {})[row.model_name] = row
    items = []
    for item in EvaluationItem.objects.filter(evaluation=evaluation):
        rows = outputs.get(item.index, {})
        items.append(
            {
                "index": item.index,
                "input": item.messages,
                "reference": item.reference,
                "outputs": {n: rows[n].output if n in rows else None for n in names},
                "scores": {n: rows[n].score if n in rows else None for n in names},
                "notes": {n: rows[n].note or rows[n].error if n in rows else "" for n in names},
            }
        )
    per_model = (evaluation.results or {}).get("models", {})
    data = {
        "id": evaluation.pk,
        "status": evaluation.status,
        "metric": evaluation.metric,
        "models": names,
        "dataset_version": {"dataset_id": evaluation.version.dataset_id, "number": evaluation.version.number},
        "items": items,
        "summary": {n: per_model.get(n, {}).get("value") for n in names},
        "details": per_model,
        "verdict": (evaluation.results or {}).get("verdict"),
    }
    if evaluation.judge_model:
        data["judge"] = {"model": evaluation.judge_model, "rubric": evaluation.rubric}
    return data


def worst_items(evaluation: Evaluation, *, limit: int = 50) -> list[dict]:
    """Items with every model's row, the lowest score first (failed answers before all)."""
    by_item: dict[int, dict] = {}
    for row in EvaluationOutput.objects.filter(evaluation=evaluation).select_related("item"):
        entry = by_item.setdefault(row.item_id, {"item": row.item, "rows": {}})
        entry["rows"][row.model_name] = row
    entries = []
    for entry in by_item.values():
        rows = [entry["rows"].get(n) for n in evaluation.model_names]
        settled = [r for r in rows if r is not None and r.status in (OutputStatus.DONE, OutputStatus.FAILED)]
        if not settled:
            continue
        worst = min(r.score if r.score is not None else float("-inf") for r in settled)
        entries.append({"item": entry["item"], "rows": rows, "worst": worst})
    entries.sort(key=lambda e: (e["worst"], e["item"].index))
    return entries[:limit]


def model_evaluations(project, model_name: str) -> list[dict]:
    """The finished evaluations a model took part in, with its number in each."""
    found = []
    for evaluation in project_evaluations(project).filter(outputs__model_name=model_name).distinct()[:20]:
        value = (evaluation.results or {}).get("models", {}).get(model_name, {}).get("value")
        found.append({"evaluation": evaluation, "value": value})
    return found
