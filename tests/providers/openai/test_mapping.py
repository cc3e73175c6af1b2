"""Reading OpenAI's words as the portal's: results files, errors and hints."""

from __future__ import annotations

import base64

import pytest

from finetune_portal.jobs import metrics
from finetune_portal.providers.openai.mapping import (
    EVENT_METRIC_KEYS,
    RESULT_COLUMNS,
    hint_for,
    metric_point,
    parse_results_csv,
)


def test_results_csv_is_read_by_column_name_and_decoded_when_base64():
    text = (
        "step,valid_loss,train_loss,train_accuracy,valid_mean_token_accuracy\n"
        "1,,1.52347,0.0,\n"
        "2,0.9,1.2,0.5,0.7\n"
    )
    for raw in (text, base64.b64encode(text.encode()), base64.b64encode(text.encode()).decode()):
        points = parse_results_csv(raw)
        assert points == [
            {"step": 1, "train_loss": 1.52347, "train_mean_token_accuracy": 0.0},
            {
                "step": 2,
                "valid_loss": 0.9,
                "train_loss": 1.2,
                "train_mean_token_accuracy": 0.5,
                "valid_mean_token_accuracy": 0.7,
            },
        ]
    assert parse_results_csv("not a csv and not base64 !!") == []


@pytest.mark.parametrize(
    ("message", "code", "hint_word"),
    [
        (
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "credit",
        ),
        ("Incorrect API key provided: sk-abc.", "invalid_api_key", "refused the credential"),
        ("You do not have access to fine-tune this model.", "", "refused the credential"),
        (
            "Model gpt-5 is not available for fine-tuning or does not exist.",
            "model_not_available",
            "base model",
        ),
        ("Something else entirely.", "", ""),
    ],
)
def test_known_causes_get_a_plain_language_hint(message, code, hint_word):
    hint = hint_for(message, code)
    assert (hint_word in hint) if hint_word else hint == ""


def test_metrics_events_are_read_with_the_portal_metric_names():
    data = {
        "step": 3,
        "train_loss": 1.5,
        "train_mean_token_accuracy": 0.5,
        "full_valid_mean_token_accuracy": 0.4,
        "valid_loss": float("nan"),
        "note": "not a number",
        "flag": True,
    }
    assert metric_point(data) == {
        "step": 3,
        metrics.TRAIN_LOSS: 1.5,
        metrics.TRAIN_TOKEN_ACCURACY: 0.5,
        "full_valid_mean_token_accuracy": 0.4,  # not a portal metric: kept as an extra
    }
    assert metric_point({"train_loss": 1.0}) is None
    assert set(EVENT_METRIC_KEYS.values()) | set(RESULT_COLUMNS.values()) <= set(metrics.STORED)
