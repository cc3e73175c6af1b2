"""The local GPU provider's launch-form fields: every setting a run takes, with its bounds, default and help.

forms.PeftJobForm adds what the form does with them (the offered data, the checks, the job it creates)."""

from __future__ import annotations

from django import forms

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.jobs.models import Checkpoint, FineTuningJob, Method
from finetune_portal.providers.peft.base_models import DEMO_TINY
from finetune_portal.providers.peft.form_fields import (
    ADAPTERS,
    DEFAULTS,
    METHODS,
    SCHEDULERS,
    CheckpointChoiceField,
    VersionChoiceField,
)


class PeftLaunchFields(forms.Form):
    name = forms.CharField(max_length=120, required=False, help_text="Optional; shown in lists and charts.")
    base_model = forms.CharField(
        max_length=200,
        initial=DEMO_TINY,
        help_text="A Hugging Face model id (owner/name), local:/path/on/the/worker, or a demo model "
        "(demo:tiny trains on a CPU in seconds).",
        widget=forms.TextInput(attrs={"list": "peft-base-models", "autocomplete": "off"}),
    )
    method = forms.ChoiceField(
        choices=METHODS,
        initial=Method.SFT,
        help_text="SFT learns from chats; DPO from chosen/rejected pairs.",
    )
    training_version = VersionChoiceField(queryset=DatasetVersion.objects.none(), label="Training data")
    validation_version = VersionChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        label="Validation data",
        help_text="Optional; its loss is charted beside the training loss.",
    )
    start_from_checkpoint = CheckpointChoiceField(
        queryset=Checkpoint.objects.none(),
        required=False,
        label="Continue from checkpoint",
        empty_label="None: a fresh adapter",
        help_text="Go on training a LoRA checkpoint of an earlier local run, on the same base model.",
    )
    adapter = forms.ChoiceField(
        choices=ADAPTERS,
        initial=DEFAULTS["adapter"],
        help_text="LoRA trains a small adapter on a frozen base; QLoRA does so on a 4-bit base (CUDA only) "
        "or an 8-bit one (CPU or CUDA, via bitsandbytes); full trains every weight.",
    )
    lora_rank = forms.IntegerField(
        min_value=1, max_value=1024, initial=DEFAULTS["lora_rank"], label="LoRA rank"
    )
    lora_alpha = forms.IntegerField(
        min_value=1, max_value=4096, initial=DEFAULTS["lora_alpha"], label="LoRA alpha"
    )
    lora_dropout = forms.FloatField(
        min_value=0, max_value=0.9, initial=DEFAULTS["lora_dropout"], label="LoRA dropout"
    )
    target_modules = forms.CharField(
        max_length=300,
        initial=DEFAULTS["target_modules"],
        help_text="all-linear, or module names separated by commas (q_proj,v_proj).",
    )
    epochs = forms.FloatField(min_value=0.01, max_value=100, initial=DEFAULTS["epochs"])
    max_steps = forms.IntegerField(
        min_value=0,
        initial=DEFAULTS["max_steps"],
        help_text="Stop after this many steps; 0 trains every epoch.",
    )
    learning_rate = forms.FloatField(
        min_value=1e-8,
        max_value=1.0,
        initial=DEFAULTS["learning_rate"],
        help_text="2e-4 suits LoRA on a pretrained model; the tiny demo model needs about 5e-3.",
    )
    lr_scheduler = forms.ChoiceField(choices=SCHEDULERS, initial=DEFAULTS["lr_scheduler"], label="Scheduler")
    warmup_ratio = forms.FloatField(
        min_value=0,
        max_value=0.99,
        initial=DEFAULTS["warmup_ratio"],
        help_text="Share of steps spent warming up.",
    )
    weight_decay = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=DEFAULTS["weight_decay"],
        help_text="AdamW's decoupled weight decay; 0 turns it off, 0.01 is a common choice.",
    )
    batch_size = forms.IntegerField(
        min_value=1, max_value=1024, initial=DEFAULTS["batch_size"], label="Per-device batch size"
    )
    gradient_accumulation = forms.IntegerField(
        min_value=1, max_value=1024, initial=DEFAULTS["gradient_accumulation"]
    )
    max_length = forms.IntegerField(
        min_value=16, max_value=131_072, initial=DEFAULTS["max_length"], label="Max sequence length"
    )
    packing = forms.BooleanField(
        required=False, initial=DEFAULTS["packing"], help_text="SFT: pack short examples into full sequences."
    )
    assistant_only_loss = forms.BooleanField(
        required=False,
        initial=DEFAULTS["assistant_only_loss"],
        label="Assistant-only loss",
        help_text="SFT on chat data: learn only from the assistant's turns.",
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=DEFAULTS["seed"])
    eval_steps = forms.IntegerField(
        min_value=0,
        initial=DEFAULTS["eval_steps"],
        label="Evaluate every N steps",
        help_text="0 evaluates once per epoch.",
    )
    save_steps = forms.IntegerField(
        min_value=0,
        initial=DEFAULTS["save_steps"],
        label="Checkpoint every N steps",
        help_text="0: each epoch.",
    )
    save_total_limit = forms.IntegerField(
        min_value=0,
        max_value=1000,
        initial=DEFAULTS["save_total_limit"],
        label="Checkpoints to keep",
        help_text="Older checkpoints are deleted on the worker (the best one is kept too); 0 keeps all.",
    )
    early_stopping_patience = forms.IntegerField(
        min_value=0,
        max_value=1000,
        initial=DEFAULTS["early_stopping_patience"],
        label="Early-stopping patience",
        help_text="Stop after this many evaluations without a better validation loss; 0 never stops early. "
        "Needs validation data.",
    )
    early_stopping_threshold = forms.FloatField(
        min_value=0,
        max_value=100,
        initial=DEFAULTS["early_stopping_threshold"],
        label="Early-stopping threshold",
        help_text="How much the validation loss must fall to count as better.",
    )
    load_best_model_at_end = forms.BooleanField(
        required=False,
        initial=DEFAULTS["load_best_model_at_end"],
        label="Keep the best checkpoint",
        help_text="The result is the checkpoint with the lowest validation loss, not the last one. Needs "
        "validation data; checkpoints are then saved at each evaluation.",
    )
    dpo_beta = forms.FloatField(
        min_value=0.001, max_value=10, initial=DEFAULTS["dpo_beta"], label="DPO beta", help_text="DPO only."
    )
    gpus = forms.IntegerField(
        min_value=1,
        max_value=16,
        initial=DEFAULTS["gpus"],
        label="GPUs",
        help_text="More than 1 uses accelerate.",
    )
    sharding = forms.ChoiceField(
        choices=[
            ("ddp", "DDP"),
            ("fsdp", "FSDP"),
        ],
        initial=DEFAULTS["sharding"],
        label="Several GPUs",
        help_text="With more than 1 GPU: DDP puts a copy on each; FSDP shards the model across them.",
    )
    hub_repo_id = forms.CharField(
        max_length=200,
        required=False,
        label="Push to Hugging Face repo",
        help_text="Optional owner/name; created private, with a model card. Needs a Hugging Face credential.",
    )

    # A retrain of another provider's job (see retrain.py): the lineage the new job records.
    replaces = forms.ModelChoiceField(
        queryset=FineTuningJob.objects.none(), required=False, widget=forms.HiddenInput
    )
