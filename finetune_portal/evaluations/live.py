"""Open job pages follow the job's evaluations: each start, settled batch of answers, cancel or finish
of an evaluation run on a job's model goes out on that job's live stream, whose state carries a token
that moves with them (registered in apps.py), and the page then refreshes its evaluations part."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count, Max, Q

from finetune_portal.evaluations.models import Evaluation, EvaluationOutput, EvaluationStatus, OutputStatus
from finetune_portal.jobs.recording import job_live_publish

LIVE_PART = "evaluations"


def evaluation_live_publish(evaluation: Evaluation) -> None:
    """Tell the pages of the evaluated job (when there is one) once the current transaction commits."""
    if evaluation.job_id is not None:
        job_live_publish(evaluation.job_id)


def job_evaluations_live_tokens(job_ids: Sequence[int]) -> dict[int, str]:
    """Per job with evaluations: a token that moves when one starts, settles answers, or ends (two
    queries; only running evaluations' answers are counted, and jobs without evaluations are left out)."""
    runs = (
        Evaluation.objects.filter(job_id__in=list(job_ids))
        .values("job_id")
        .annotate(
            runs=Count("pk"),
            newest=Max("pk"),
            running=Count("pk", filter=Q(status=EvaluationStatus.RUNNING)),
            ended=Max("finished_at"),
        )
    )
    settled = dict(
        EvaluationOutput.objects.filter(
            evaluation__job_id__in=list(job_ids),
            evaluation__status=EvaluationStatus.RUNNING,
            status__in=[OutputStatus.DONE, OutputStatus.FAILED],
        )
        .values("evaluation__job_id")
        .annotate(settled=Count("pk"))
        .values_list("evaluation__job_id", "settled")
    )
    return {
        row["job_id"]: (
            f"{row['runs']}-{row['newest']}-{row['running']}-"
            f"{row['ended'].timestamp() if row['ended'] else 0:.6f}-{settled.get(row['job_id'], 0)}"
        )
        for row in runs
    }
