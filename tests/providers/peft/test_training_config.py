"""How a TrainingSpec becomes TRL's settings."""

from __future__ import annotations

from finetune_portal.providers.peft.forms import PeftJobForm
from finetune_portal.providers.peft.trainer import TrainingSpec
from finetune_portal.providers.peft.training_config import trainer_config


def test_the_warmup_ratio_warms_up_over_that_share_of_the_run(tmp_path):
    spec = TrainingSpec(
        model_path="unused",
        method="sft",
        train_rows=[{"messages": []}] * 40,
        output_dir=str(tmp_path),
        warmup_ratio=0.1,
    )

    config = trainer_config(spec, cuda=False, bf16=False, has_eval=False)

    assert config.get_warmup_steps(100) == 10
    assert config.get_warmup_steps(7) == 1, "a part of a step rounds up to one"
    # At 1 or more transformers would read a count of steps; the form keeps the ratio below that.
    assert PeftJobForm.base_fields["warmup_ratio"].max_value < 1
