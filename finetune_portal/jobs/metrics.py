"""The portal's metric vocabulary: every metric a run records, its label, unit and chart.

Providers translate their own log keys into these names (``key_map`` below), the stored
``MetricPoint`` columns carry them, the selectors read them, and the chart script receives
``chart_config()`` from the page instead of spelling them itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str = ""
    # The chart tab a metric is drawn on; "" means it is stored but not charted.
    chart: str = ""
    colour: str = ""
    # Which curve of a comparison it belongs to ("train" or "valid"), for the train/validation filter.
    side: str = ""


EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
VALID_LOSS = "valid_loss"
FULL_VALID_LOSS = "full_valid_loss"
TRAIN_TOKEN_ACCURACY = "train_mean_token_accuracy"  # noqa: S105 (a metric name, not a secret)
VALID_TOKEN_ACCURACY = "valid_mean_token_accuracy"  # noqa: S105 (a metric name, not a secret)
LEARNING_RATE = "learning_rate"
GRAD_NORM = "grad_norm"
DPO_REWARD_MARGIN = "dpo_reward_margin"
DPO_REWARD_CHOSEN = "dpo_reward_chosen"
DPO_REWARD_REJECTED = "dpo_reward_rejected"
DPO_REWARD_ACCURACY = "dpo_reward_accuracy"

LOSS_CHART = "loss"
ACCURACY_CHART = "accuracy"
# DPO's own training signal: how far the policy prefers the chosen answer over the rejected one.
DPO_CHART = "dpo"

# Colours from the Okabe-Ito palette, which stays distinguishable for colour-blind readers.
METRICS: tuple[Metric, ...] = (
    Metric(EPOCH, "Epoch"),
    Metric(TRAIN_LOSS, "Train loss", chart=LOSS_CHART, colour="#0072B2", side="train"),
    Metric(VALID_LOSS, "Validation loss", chart=LOSS_CHART, colour="#D55E00", side="valid"),
    Metric(FULL_VALID_LOSS, "Full validation loss", chart=LOSS_CHART, colour="#009E73", side="valid"),
    Metric(
        TRAIN_TOKEN_ACCURACY,
        "Train token accuracy",
        unit="share",
        chart=ACCURACY_CHART,
        colour="#0072B2",
        side="train",
    ),
    Metric(
        VALID_TOKEN_ACCURACY,
        "Validation token accuracy",
        unit="share",
        chart=ACCURACY_CHART,
        colour="#D55E00",
        side="valid",
    ),
    Metric(LEARNING_RATE, "Learning rate"),
    Metric(GRAD_NORM, "Gradient norm"),
    Metric(DPO_REWARD_MARGIN, "Reward margin", chart=DPO_CHART, colour="#000000", side="train"),
    Metric(DPO_REWARD_CHOSEN, "Chosen reward", chart=DPO_CHART, colour="#009E73", side="train"),
    Metric(DPO_REWARD_REJECTED, "Rejected reward", chart=DPO_CHART, colour="#D55E00", side="train"),
    Metric(
        DPO_REWARD_ACCURACY,
        "Preference accuracy",
        unit="share",
        chart=DPO_CHART,
        colour="#0072B2",
        side="train",
    ),
)

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}
# The columns of a MetricPoint besides its step, in the order they are stored.
STORED: tuple[str, ...] = tuple(metric.name for metric in METRICS)
# The series a chart draws, in drawing order.
CHARTED: tuple[str, ...] = tuple(metric.name for metric in METRICS if metric.chart)
# Checkpoint marks belong on the first series of each chart tab.
CHECKPOINT_SERIES: tuple[str, ...] = (TRAIN_LOSS, TRAIN_TOKEN_ACCURACY)


def key_map(mapping: dict[str, str]) -> dict[str, str]:
    """A provider's own keys -> portal metric names, refusing a name the portal does not know.

    Built at import time, so a misspelt metric in a provider fails the first test that loads it.
    """
    unknown = sorted(set(mapping.values()) - set(BY_NAME))
    if unknown:
        raise ValueError(f"Unknown portal metric name(s): {', '.join(unknown)}")
    return dict(mapping)


def chart_config() -> dict[str, dict[str, str]]:
    """What the chart script needs of each charted metric, handed to it through the page."""
    return {
        metric.name: {
            "label": metric.label,
            "colour": metric.colour,
            "group": metric.chart,
            "side": metric.side,
        }
        for metric in METRICS
        if metric.chart
    }
