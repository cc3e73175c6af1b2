"""The compared runs' settings side by side, and what each figure means for each provider present."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finetune_portal.jobs import metrics
from finetune_portal.jobs.compare_runs import MISSING
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.setting_names import VOCABULARY, Setting, job_settings, setting_label
from finetune_portal.providers.registry import all_providers

_ABSENT = object()


def _comparable(value: Any) -> tuple:
    """A key under which equal settings match: 3 and 3.0 are the same, "3" and 3 are not."""
    if value is _ABSENT:
        return ("absent",)
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, int | float | Decimal):
        return ("number", float(value))
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _display(value: Any) -> str:
    if isinstance(value, Setting):
        shown = _display(value.value)
        return f"{shown} (auto)" if value.resolved_by_provider else shown
    if value is _ABSENT or value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass(frozen=True)
class SettingRow:
    name: str
    values: list[str]
    differs: bool


def _row(name: str, raw_values: Sequence[Any]) -> SettingRow:
    """A row of values; values a provider resolved compare by the value it used."""
    comparable = {_comparable(v.value if isinstance(v, Setting) else v) for v in raw_values}
    return SettingRow(name=name, values=[_display(v) for v in raw_values], differs=len(comparable) > 1)


def settings_rows(jobs: Sequence[FineTuningJob]) -> list[SettingRow]:
    """One row per setting any run has, under its label; equal settings of two providers share a row. A
    run without the setting shows a dash, which counts as different."""
    per_job = [job_settings(job) for job in jobs]
    rows = [
        _row("Provider", [job.get_provider_display() for job in jobs]),
        _row("Method", [job.get_method_display() for job in jobs]),
        _row("Base model", [job.base_model for job in jobs]),
        _row(
            "Training data",
            [
                f"{job.training_version.dataset.name} v{job.training_version.number}"
                if job.training_version
                else _ABSENT
                for job in jobs
            ],
        ),
    ]
    known = [name for name in VOCABULARY if any(name in settings for settings in per_job)]
    others = sorted({name for settings in per_job for name in settings} - set(VOCABULARY))
    rows += [
        _row(setting_label(name), [settings.get(name, _ABSENT) for settings in per_job])
        for name in known + others
    ]
    return rows


@dataclass(frozen=True)
class MetricNote:
    metric: str
    notes: list[tuple[str, str]] = field(default_factory=list)


# The figures whose meaning differs between providers, in the order the page explains them. Providers'
# ``metric_notes`` are keyed the same way.
NOTED_FIGURES: dict[str, str] = {
    metrics.TRAIN_LOSS: metrics.BY_NAME[metrics.TRAIN_LOSS].label,
    metrics.VALID_LOSS: metrics.BY_NAME[metrics.VALID_LOSS].label,
    metrics.ACCURACY_CHART: "Token accuracy",
    "trained_tokens": "Trained tokens",
    "cost": "Cost",
}


def metric_notes(jobs: Sequence[FineTuningJob]) -> list[MetricNote]:
    """What each figure means for each provider present; shown only when runs come from several."""
    present = {job.provider for job in jobs}
    providers = [provider for provider in all_providers() if provider.key in present]
    return [
        MetricNote(
            metric=heading,
            notes=[
                (provider.label, provider.metric_notes[figure])
                for provider in providers
                if figure in provider.metric_notes
            ],
        )
        for figure, heading in NOTED_FIGURES.items()
    ]
