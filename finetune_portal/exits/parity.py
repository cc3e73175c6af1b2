"""Proving parity: the provider's fine-tuned model and its local replacement answer the same held-out
items, and the evaluation's paired verdict is said in plain words from the local model's side.

The comparison is an ordinary evaluation (model A the replacement, model B the provider's model) tied to
the replacement job, so the evaluations pages show it too and the exit page finds it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from finetune_portal.evaluations import metrics
from finetune_portal.evaluations.items import EvaluationInputError, version_items
from finetune_portal.evaluations.models import Evaluation, EvaluationStatus
from finetune_portal.evaluations.services import evaluation_start
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.models import ModelStatus

AUTO_METRIC = "auto"
# Metrics a parity check may use: the judge needs a rubric and a third model, which one click cannot ask.
PARITY_METRICS = [key for key in metrics.METRICS if key != metrics.JUDGE]
# References this short, with this few distinct values, are labels: exact match says more than overlap.
LABEL_MAX_WORDS = 3
LABEL_MAX_DISTINCT = 20


@dataclass(frozen=True)
class ParityResult:
    evaluation: Evaluation
    words: str


@dataclass(frozen=True)
class ParityState:
    """What the exit page says about one model's parity: the latest finished comparison, and one that
    is still running (newer than it) if any."""

    finished: ParityResult | None
    running: Evaluation | None


def latest_replacement(job: FineTuningJob, *, replacement_id: int | None = None) -> FineTuningJob | None:
    """The newest succeeded replacement of ``job`` whose model can still answer (or that one, if it is)."""
    candidates = job.replaced_by.order_by("-created_at", "-pk").select_related("fine_tuned_model")
    if replacement_id is not None:
        candidates = candidates.filter(pk=replacement_id)
    for candidate in candidates:
        model = getattr(candidate, "fine_tuned_model", None)
        if (
            candidate.status == JobStatus.SUCCEEDED
            and model is not None
            and model.status == ModelStatus.AVAILABLE
        ):
            return candidate
    return None


def pair_names(job: FineTuningJob, replacement: FineTuningJob) -> list[str]:
    """The served names compared, in the evaluation's order: the local replacement (A), then the model
    it replaces (B)."""
    return [served_model_of(replacement.fine_tuned_model).name, served_model_of(job.fine_tuned_model).name]


def suited_metric(version) -> str:
    """Exact match for a labelling dataset (short references, few distinct ones), ROUGE-L otherwise."""
    references = [reference for _, _, reference in version_items(version)]
    short = all(len(r.split()) <= LABEL_MAX_WORDS for r in references)
    if short and len({metrics.normalize_label(r) for r in references}) <= LABEL_MAX_DISTINCT:
        return metrics.ACCURACY
    return metrics.ROUGE_L


def parity_start(
    *,
    job: FineTuningJob,
    user,
    version=None,
    metric: str = AUTO_METRIC,
    replacement_id: int | None = None,
) -> tuple[Evaluation, bool]:
    """Evaluate ``job``'s model and its newest local replacement (or the one named) on the same held-out
    items: the job's validation version unless another is given. Returns (evaluation, started); while
    a comparison of the same pair on the same items is running, that one is returned instead of a
    second (a double click starts one)."""
    version = version or job.validation_version
    if version is None:
        raise EvaluationInputError(
            "This job has no validation version: choose the held-out version to compare on.", field="version"
        )
    if getattr(job, "fine_tuned_model", None) is None:
        raise EvaluationInputError("This job has no fine-tuned model to compare.")
    if metric != AUTO_METRIC and metric not in PARITY_METRICS:
        raise EvaluationInputError(f"Choose one of the listed metrics, not {metric!r}.", field="metric")
    with transaction.atomic():
        # The job row is the lock two clicks queue on: the second sees the first one's evaluation.
        FineTuningJob.objects.select_for_update().filter(pk=job.pk).first()
        replacement = latest_replacement(job, replacement_id=replacement_id)
        if replacement is None:
            raise EvaluationInputError(
                "No local replacement of this model has succeeded yet: retrain it first."
                if replacement_id is None
                else "That job is not a succeeded local replacement of this model."
            )
        names = pair_names(job, replacement)
        chosen = suited_metric(version) if metric == AUTO_METRIC else metric
        for running in Evaluation.objects.filter(
            job=replacement, version=version, metric=chosen, status=EvaluationStatus.RUNNING
        ):
            if list(running.model_names) == names:
                return running, False
        evaluation = evaluation_start(
            project=job.project,
            user=user,
            version=version,
            model_names=names,
            metric=chosen,
            job=replacement,
        )
    return evaluation, True


def _number(value: float) -> str:
    return f"{value:.1f}".replace("-", "\u2212")


def _interval(low: float, high: float) -> str:
    return f"95% CI {_number(low)}\u2013{_number(high)}"


def parity_words(evaluation: Evaluation) -> str:
    """The evaluation's verdict (A the local model, B the provider's) said from the local model's side."""
    verdict = (evaluation.results or {}).get("verdict")
    if not verdict:
        return "No verdict: the evaluation scored no item for both models."
    n = verdict["n"]
    metric = evaluation.metric_info.label
    if verdict.get("difference") is None:
        return f"Too few items for a verdict: n = {n} scored by both models ({metric})."
    diff, (low, high), p = verdict["difference"], verdict["ci95"], verdict["p_value"]
    tail = f"n = {n} ({metric})."
    if p is not None and p < 0.05 and diff != 0:
        if diff > 0:
            return f"The local model is better by {_number(diff)} points, {_interval(low, high)}, {tail}"
        return f"The local model is worse by {_number(-diff)} points, {_interval(-high, -low)}, {tail}"
    return f"The local model matches within {_number(abs(diff))} points, {_interval(low, high)}, {tail}"


def parity_states(jobs: list[FineTuningJob]) -> dict[int, ParityState]:
    """Per job (by pk): its latest finished parity comparison and any newer one still running. One query
    for all the rows of the exit page."""
    pairs: dict[int, tuple[int, list[str]]] = {}
    for job in jobs:
        for replacement in job.replaced_by.all():
            if getattr(replacement, "fine_tuned_model", None) is not None and job.fine_tuned_model:
                pairs[replacement.pk] = (job.pk, pair_names(job, replacement))
    states: dict[int, ParityState] = {}
    if not pairs:
        return states
    found = Evaluation.objects.filter(
        job_id__in=list(pairs), status__in=[EvaluationStatus.SUCCEEDED, EvaluationStatus.RUNNING]
    ).order_by("-created_at", "-pk")
    for evaluation in found:
        job_pk, names = pairs.get(evaluation.job_id or 0, (0, []))
        if list(evaluation.model_names) != names:
            continue  # the replacement's own evaluations against its base
        state = states.get(job_pk, ParityState(None, None))
        if state.finished is not None:
            continue  # the newest finished one is said; older ones are on the evaluations page
        if evaluation.status == EvaluationStatus.RUNNING:
            if state.running is None:
                states[job_pk] = ParityState(None, evaluation)
        else:
            states[job_pk] = ParityState(ParityResult(evaluation, parity_words(evaluation)), state.running)
    return states
