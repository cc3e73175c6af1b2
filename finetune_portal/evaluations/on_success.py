"""Evaluations attached to a job, started once it succeeds."""

from __future__ import annotations

import logging

from django.db import transaction

from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.models import EvaluationOnSuccess
from finetune_portal.evaluations.services import evaluation_start
from finetune_portal.inference.catalog import served_model_of

logger = logging.getLogger(__name__)


def evaluation_on_success_add(*, job, version, metric: str, user) -> EvaluationOnSuccess:
    if version.dataset.project_id != job.project_id:
        raise EvaluationInputError("That dataset version is not in the job's project.", field="version")
    attached, _ = EvaluationOnSuccess.objects.get_or_create(
        job=job, version=version, metric=metric, defaults={"created_by": user}
    )
    return attached


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
