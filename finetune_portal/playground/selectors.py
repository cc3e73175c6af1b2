"""Reads for the playground's pages: the model picker, the probe grid, the datasets an answer can go
into, and this month's spend."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from finetune_portal.datasets.models import Dataset, DatasetKind, VersionStatus
from finetune_portal.inference.catalog import served_models
from finetune_portal.inference.services import inference_spend
from finetune_portal.playground.models import Probe, ProbeAnswer, ProbeRun
from finetune_portal.providers.chat import ServedModel

GRID_MODELS = 8

KIND_GROUPS = (("fine_tuned", "Fine-tuned models"), ("checkpoint", "Checkpoints"), ("base", "Base models"))


def model_groups(models: list[ServedModel]) -> list[tuple[str, list[ServedModel]]]:
    """The picker's option groups, in the catalog's order within each."""
    groups = []
    for kind, title in KIND_GROUPS:
        members = [m for m in models if m.kind == kind]
        if members:
            groups.append((title, members))
    return groups


def month_spend(project) -> Decimal:
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return inference_spend(project, since=start)


def chat_datasets(project) -> list[Dataset]:
    """The project's chat datasets that have a valid version an answer can be appended to."""
    return list(
        Dataset.objects.filter(project=project, kind=DatasetKind.CHAT, versions__status=VersionStatus.VALID)
        .distinct()
        .order_by("name")
    )


@dataclass
class GridColumn:
    model_name: str
    label: str
    run: ProbeRun


@dataclass
class ProbeGrid:
    probes: list[Probe]
    columns: list[GridColumn]
    cells: dict[tuple[int, int], ProbeAnswer] = field(default_factory=dict)  # (probe id, run id)

    @property
    def rows(self) -> list[tuple[Probe, list[ProbeAnswer | None]]]:
        return [(p, [self.cells.get((p.pk, c.run.pk)) for c in self.columns]) for p in self.probes]

    @property
    def answering(self) -> bool:
        return any(not cell.is_settled for cell in self.cells.values())


def probe_grid(project, *, model_names: list[str] | None = None) -> ProbeGrid:
    """Probes by models: for each model its latest run (the newest models first, or the ones named)."""
    probes = list(Probe.objects.filter(project=project))
    runs = ProbeRun.objects.filter(project=project).order_by("-created_at", "-pk")
    if model_names:
        runs = runs.filter(model_name__in=model_names)
    latest: dict[str, ProbeRun] = {}
    for run in runs[:200]:
        latest.setdefault(run.model_name, run)
        if len(latest) >= GRID_MODELS:
            break
    columns = [
        GridColumn(model_name=name, label=run.model_label or name, run=run) for name, run in latest.items()
    ]
    cells = {
        (a.probe_id, a.run_id): a
        for a in ProbeAnswer.objects.filter(run__in=[c.run for c in columns]).select_related("answer")
    }
    return ProbeGrid(probes=probes, columns=columns, cells=cells)


def probe_answer_counts(project) -> dict[str, int]:
    """Per served model name, how many probe answers it has (the models page links to them)."""
    counts: dict[str, int] = {}
    for name in ProbeAnswer.objects.filter(run__project=project, answer__isnull=False).values_list(
        "run__model_name", flat=True
    ):
        counts[name] = counts.get(name, 0) + 1
    return counts


def picker_models(project) -> list[ServedModel]:
    return served_models(project)
