"""The trainer's log lines as the portal's metric points."""

from __future__ import annotations

from finetune_portal.jobs import metrics
from finetune_portal.providers.peft.callbacks import step_point


def test_hugging_face_keys_become_portal_metric_names_and_other_eval_keys_keep_theirs():
    logs = {
        "loss": 1.5,
        "grad_norm": 2,
        "eval_loss": float("nan"),
        "eval_mean_token_accuracy": 0.5,
        "eval_rewards/margins": 0.25,
        "eval_runtime": 3.0,
        "num_tokens": 640,
        "epoch": 1,
    }

    point = step_point(logs, step=7)

    assert point == {
        "step": 7,
        metrics.TRAIN_LOSS: 1.5,
        metrics.GRAD_NORM: 2.0,
        metrics.VALID_LOSS: None,
        metrics.VALID_TOKEN_ACCURACY: 0.5,
        "valid/rewards/margins": 0.25,
        "num_tokens": 640.0,
        metrics.EPOCH: 1.0,
    }
