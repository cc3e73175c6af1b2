"""Reads for the capture pages and for the exit page's "Captured" column."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, IntegerField, QuerySet, Value, When

from finetune_portal.captures.models import Capture, CaptureItem, ItemStatus
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.items import evaluable_versions

# Problems first on the page, then what is still open, then the answers.
_ITEM_ORDER = Case(
    When(status=ItemStatus.FAILED, then=Value(0)),
    When(status=ItemStatus.REFUSED, then=Value(1)),
    When(status=ItemStatus.PENDING, then=Value(2)),
    When(status=ItemStatus.RUNNING, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)


def latest_captures(fine_tuned_model_ids: Iterable[int]) -> dict[int, Capture]:
    """The newest capture of each model, by fine-tuned model id."""
    latest: dict[int, Capture] = {}
    for capture in (
        Capture.objects.filter(fine_tuned_model_id__in=list(fine_tuned_model_ids))
        .select_related("result_version__dataset")
        .order_by("-created_at", "-pk")
    ):
        latest.setdefault(capture.fine_tuned_model_id, capture)
    return latest


def capture_items(capture: Capture, *, limit: int = 200) -> QuerySet[CaptureItem]:
    return capture.items.annotate(problem_first=_ITEM_ORDER).order_by("problem_first", "index")[:limit]


def source_versions(project) -> QuerySet[DatasetVersion]:
    """Versions whose prompts a model can be asked: those an evaluation reads."""
    return evaluable_versions(project)
