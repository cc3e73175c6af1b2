"""Evaluations attached to a job, started once it succeeds."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from finetune_portal.core.audit import audit_log
from finetune_portal.evaluations.items import EVALUABLE_KINDS, EvaluationInputError
from finetune_portal.evaluations.metrics import JUDGE, METRICS
from finetune_portal.evaluations.models import EvaluationOnSuccess
from finetune_portal.evaluations.services import evaluation_start
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus

logger = logging.getLogger(__name__)


def evaluation_on_success_add(*, job, version, metric: str, user) -> tuple[EvaluationOnSuccess, bool]:
    """Attach "evaluate it on this version when it succeeds"; the same request twice attaches once.

    Returns the attachment and whether it is new. A job that has already succeeded is evaluated at once
    (after commit); one that ended otherwise has no model to evaluate and is refused. The job's row is
    locked so the attachment and the job's move to succeeded cannot miss each other.
    """
    if metric not in METRICS or metric == JUDGE:
        raise EvaluationInputError(
            "Choose a metric that needs no judge; start a judged evaluation from the evaluations page.",
            field="metric",
        )
    if version.dataset.project_id != job.project_id:
        raise EvaluationInputError("That dataset version is not in the job's project.", field="version")
    if version.dataset.kind not in EVALUABLE_KINDS:
        raise EvaluationInputError(
            f"{version} is a {version.dataset.get_kind_display()} dataset; evaluations read chat, "
            "prompt/completion or instruction data.",
            field="version",
        )
    with transaction.atomic():
        status = FineTuningJob.objects.select_for_update().values_list("status", flat=True).get(pk=job.pk)
        if status in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise EvaluationInputError("This job ended without a model, so there is nothing to evaluate.")
        attached, created = EvaluationOnSuccess.objects.get_or_create(
            job=job, version=version, metric=metric, defaults={"created_by": user}
        )
        if created:
            audit_log(
                actor=user,
                action="evaluation.attach",
                target=job,
                project=job.project,
                data={"version": version.pk, "metric": metric},
            )
        if status == JobStatus.SUCCEEDED:
            transaction.on_commit(partial(evaluations_for_succeeded_job, job_id=job.pk))
    return attached, created


def job_evaluations_attached(job) -> list[EvaluationOnSuccess]:
    return list(
        EvaluationOnSuccess.objects.filter(job=job)
        .select_related("version__dataset", "evaluation", "created_by")
        .order_by("created_at", "pk")
    )


def evaluations_for_succeeded_job(*, job_id: int) -> list[int]:
    """Start each attached evaluation of the job that has not started yet (the signal may come twice)."""
    started = []
    for attached in EvaluationOnSuccess.objects.filter(job_id=job_id, evaluation__isnull=True).select_related(
        "job__project", "job__fine_tuned_model", "version__dataset"
    ):
        with transaction.atomic():
            claimed = EvaluationOnSuccess.objects.select_for_update().filter(
                pk=attached.pk, evaluation__isnull=True
            )
            if not claimed.exists():
                continue
            job = attached.job
            model = getattr(job, "fine_tuned_model", None)
            if model is None:
                logger.warning("job %s succeeded without a model; nothing to evaluate", job_id)
                continue
            tuned = served_model_of(model)
            try:
                evaluation = evaluation_start(
                    project=job.project,
                    user=attached.created_by,
                    version=attached.version,
                    model_names=[tuned.name, tuned.base_model],
                    metric=attached.metric,
                    job=job,
                )
            except EvaluationInputError as exc:
                logger.warning("evaluation of job %s not started: %s", job_id, exc.message)
                continue
            claimed.update(evaluation=evaluation)
            started.append(evaluation.pk)
    return started
