"""Evaluation runs: starting one (with its cost estimate and cap), answering and scoring its items in
batches that any worker may pick up again, cancelling, the summary and verdict at the end, and fixing an
item's reference in a new dataset version."""

from finetune_portal.evaluations.services.answering import (
    evaluation_progress,
    evaluation_run_batch,
    evaluation_run_in_process,
)
from finetune_portal.evaluations.services.costs import cost_estimate
from finetune_portal.evaluations.services.fixes import evaluation_item_fix
from finetune_portal.evaluations.services.start import evaluation_cancel, evaluation_start
from finetune_portal.evaluations.services.summary import evaluation_summarize

__all__ = [
    "cost_estimate",
    "evaluation_cancel",
    "evaluation_item_fix",
    "evaluation_progress",
    "evaluation_run_batch",
    "evaluation_run_in_process",
    "evaluation_start",
    "evaluation_summarize",
]
