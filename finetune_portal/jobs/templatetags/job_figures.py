"""Formatting for the figures on job pages: durations, losses and money."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from django import template
from django.utils.html import escape, json_script
from django.utils.safestring import SafeString, mark_safe

from finetune_portal.jobs import metrics
from finetune_portal.jobs.setting_names import flatten_settings, setting_label

register = template.Library()


@register.filter
def duration_short(value: timedelta | None) -> str:
    """2h 05m, 4m 12s or 38s; a dash when unknown."""
    if value is None:
        return "—"
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


@register.filter
def loss(value) -> str:
    # Checkpoint metrics are a provider's JSON: a figure may be missing ("" in a template) or not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value:.4f}"


@register.filter
def usd(value) -> str:
    if value is None:
        return "—"
    # Small test runs cost fractions of a cent; "$0.00" would read as free: show two significant digits.
    if 0 < value < 0.01:
        decimals = max(4, 1 - math.floor(math.log10(value)))
        return f"${value:,.{decimals}f}"
    return f"${value:,.2f}"


# Where an identifier may wrap: after these marks, never inside a word (ft:gpt-4o-mini:org::id, Org/Model).
_ID_BREAKS = re.compile(r"([/:._-]+)")


@register.filter
def breakable(value) -> SafeString:
    """An id (model, checkpoint) that wraps after its separators instead of mid-token on a narrow screen."""
    parts = _ID_BREAKS.split(str(value or ""))
    # Every part is escaped; only the <wbr> marks are markup.
    html = "".join(escape(part) + ("<wbr>" if index % 2 else "") for index, part in enumerate(parts))
    return mark_safe(html)


@register.filter
def flat_settings(value) -> list[tuple[str, object]]:
    """A job's settings as (label, value), for its page; labels from the settings vocabulary."""
    flat = flatten_settings(value if isinstance(value, dict) else {})
    return sorted((setting_label(name), setting) for name, setting in flat.items())


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


ADAPTER_LABELS = {
    "lora": "LoRA adapter",
    "qlora": "QLoRA adapter",
    "qlora8": "QLoRA (8-bit) adapter",
    "full": "Fully fine-tuned weights",
}


@register.filter
def adapter_label(value) -> str:
    """A local run's ``adapter`` setting as words (LoRA when a job predates the setting)."""
    return ADAPTER_LABELS.get(value or "lora", str(value))


@register.simple_tag
def chart_metrics_json() -> SafeString:
    """The metric table the chart scripts draw from, as a JSON script element with id "chart-metrics"."""
    config = {"metrics": metrics.chart_config(), "checkpoint_series": list(metrics.CHECKPOINT_SERIES)}
    return json_script(config, "chart-metrics")
