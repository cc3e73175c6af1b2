"""The launch form's choices, defaults and sections, and the choice fields that label its options."""

from __future__ import annotations

from typing import Any

from django import forms

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.jobs.models import Checkpoint, Method

METHODS = [(Method.SFT, "SFT (supervised)"), (Method.DPO, "DPO (preferences)")]
ADAPTERS = [
    ("lora", "LoRA"),
    ("qlora", "QLoRA (4-bit, CUDA only)"),
    ("qlora8", "QLoRA (8-bit)"),
    ("full", "Full fine-tuning"),
]
SCHEDULERS = [
    ("cosine", "Cosine"),
    ("linear", "Linear"),
    ("constant", "Constant"),
    ("constant_with_warmup", "Constant with warmup"),
]

# What the form suggests while the base model is the tiny demo model.
DEMO_TINY_SUGGESTED = {"learning_rate": 5e-3, "gradient_accumulation": 1}

# Field name -> default; these are what the worker reads from job.hyperparameters.
DEFAULTS: dict[str, Any] = {
    "adapter": "lora",
    "lora_rank": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": "all-linear",
    "epochs": 3,
    "max_steps": 0,
    "learning_rate": 2e-4,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.03,
    "batch_size": 4,
    "gradient_accumulation": 4,
    "max_length": 1024,
    "packing": False,
    "assistant_only_loss": True,
    "seed": 42,
    "eval_steps": 50,
    "save_steps": 0,
    "weight_decay": 0.0,
    # The guide keeps the newest three checkpoints; 0 keeps every one.
    "save_total_limit": 3,
    "early_stopping_patience": 0,
    "early_stopping_threshold": 0.0,
    "load_best_model_at_end": False,
    "dpo_beta": 0.1,
    "gpus": 1,
    "sharding": "ddp",
    "hub_repo_id": "",
}
HYPERPARAMETER_FIELDS = tuple(DEFAULTS)

SECTIONS = [
    ("Model and data", ["name", "base_model", "method", "training_version", "validation_version"]),
    (
        "Adapter",
        ["adapter", "lora_rank", "lora_alpha", "lora_dropout", "target_modules", "start_from_checkpoint"],
    ),
    (
        "Training",
        [
            "epochs",
            "max_steps",
            "learning_rate",
            "lr_scheduler",
            "warmup_ratio",
            "weight_decay",
            "batch_size",
            "gradient_accumulation",
            "max_length",
            "packing",
            "assistant_only_loss",
            "seed",
            "dpo_beta",
            "gpus",
            "sharding",
        ],
    ),
    (
        "Evaluation and checkpoints",
        [
            "eval_steps",
            "save_steps",
            "save_total_limit",
            "early_stopping_patience",
            "early_stopping_threshold",
            "load_best_model_at_end",
        ],
    ),
    ("Output", ["hub_repo_id"]),
]


class CheckpointChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Checkpoint) -> str:
        return f"#{obj.job_id} {obj.job.display_name} · step {obj.step}"


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DatasetVersion) -> str:
        examples = f", {obj.example_count} examples" if obj.example_count else ""
        role = " · validation split" if obj.split_role == "validation" else ""
        return f"{obj.dataset.name} v{obj.number} ({obj.dataset.get_kind_display()}{examples}){role}"
