"""The launch form of the local GPU provider: base model, data, adapter and training settings."""

from __future__ import annotations

from typing import Any

from django import forms

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.jobs.models import Checkpoint, FineTuningJob, Method
from finetune_portal.jobs.selectors.lists import launch_settings_of
from finetune_portal.jobs.services import job_create
from finetune_portal.providers.peft.base_models import (
    DEMO_TINY,
    SUGGESTED_MODELS,
    BaseModelError,
    SourceKind,
    base_model_parse,
)
from finetune_portal.providers.peft.data import KINDS_FOR_METHOD
from finetune_portal.providers.peft.form_fields import (
    ADAPTERS,
    DEFAULTS,
    DEMO_TINY_SUGGESTED,
    HYPERPARAMETER_FIELDS,
    METHODS,
    SCHEDULERS,
    SECTIONS,
    CheckpointChoiceField,
    VersionChoiceField,
)
from finetune_portal.providers.peft.local_models import local_model_folder
from finetune_portal.providers.peft.memory_fit import MEMORY_FIT_SETTINGS, memory_fit
from finetune_portal.providers.peft.provider import KEY
from finetune_portal.providers.peft.retrain import LEARNING_RATE_MAPPING
from finetune_portal.providers.peft.selectors import versions_for_method


class PeftJobForm(forms.Form):
    template_name = "providers/peft/job_form.html"

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

    @classmethod
    def initial_from_job(cls, job) -> dict[str, Any]:
        """The form filled in as ``job`` was launched, to run it again or change one setting."""
        hyperparameters = job.hyperparameters or {}
        names = (*HYPERPARAMETER_FIELDS, "start_from_checkpoint")
        initial = {name: hyperparameters[name] for name in names if name in hyperparameters}
        initial.update(launch_settings_of(job))
        if job.seed is not None:
            initial["seed"] = job.seed
        return initial

    def __init__(self, data=None, *args, project, user, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.project = project
        self.user = user
        method = self._current("method") or Method.SFT
        if method not in KINDS_FOR_METHOD:
            method = Method.SFT
        versions = versions_for_method(project, method)
        self.fields["training_version"].queryset = versions
        self.fields["validation_version"].queryset = versions
        self.fields["replaces"].queryset = FineTuningJob.objects.filter(project=project).exclude(provider=KEY)
        self.fields["start_from_checkpoint"].queryset = (
            Checkpoint.objects.filter(job__project=project, job__provider=KEY)
            .exclude(storage_uri="")
            .select_related("job")
            .order_by("-job_id", "-step")
        )
        if not self.is_bound and self._current("base_model") == DEMO_TINY:
            # The random tiny model only shows a falling curve with a large rate and a step per batch
            # (settings copied from another job are kept as they were).
            self.initial.update({k: v for k, v in DEMO_TINY_SUGGESTED.items() if k not in self.initial})
        if not self.is_bound and "training_version" not in self.initial:
            # The newest training split is the usual choice.
            self.initial["training_version"] = (
                versions.filter(split_role="train").values_list("pk", flat=True).first()
            )
        if not versions.exists():
            kinds = ", ".join(KINDS_FOR_METHOD[method])
            self.fields[
                "training_version"
            ].help_text = (
                f"No valid dataset version of a kind this method trains on ({kinds}) yet: upload one first."
            )

    def _current(self, name: str):
        """The value being edited: submitted data when there is some, else the initial value."""
        if self.is_bound and name in self.data:
            return self.data.get(name)
        return self.initial.get(name, self.fields[name].initial if name in self.fields else None)

    @property
    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    @property
    def learning_rate_mapping(self) -> str:
        """Shown when the form retrains another provider's job: how its learning rate was mapped."""
        return LEARNING_RATE_MAPPING if self._current("replaces") else ""

    @property
    def suggested_models(self):
        return SUGGESTED_MODELS

    def clean_base_model(self) -> str:
        value = self.cleaned_data["base_model"].strip()
        try:
            source = base_model_parse(value)
            if source.kind == SourceKind.LOCAL:
                local_model_folder(source.value, project_id=self.project.pk)
        except BaseModelError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_hub_repo_id(self) -> str:
        value = self.cleaned_data["hub_repo_id"].strip()
        if value:
            try:
                source = base_model_parse(value)
            except BaseModelError:
                source = None
            if source is None or source.kind != SourceKind.HUB or "/" not in value:
                raise forms.ValidationError("Give the repo as owner/name, e.g. my-team/support-bot-lora.")
        return value

    def clean(self):
        cleaned = super().clean()
        train, valid = cleaned.get("training_version"), cleaned.get("validation_version")
        if train and valid and train.pk == valid.pk:
            self.add_error("validation_version", "Validation data must differ from the training data.")
        checkpoint = cleaned.get("start_from_checkpoint")
        if checkpoint is not None:
            if cleaned.get("adapter") == "full":
                self.add_error("start_from_checkpoint", "Only a LoRA or QLoRA run continues a checkpoint.")
            if cleaned.get("base_model") and cleaned["base_model"] != checkpoint.job.base_model:
                self.add_error(
                    "start_from_checkpoint",
                    f"This checkpoint was trained on {checkpoint.job.base_model}; use that base model.",
                )
        if not valid:
            needs_validation = {
                "early_stopping_patience": bool(cleaned.get("early_stopping_patience")),
                "load_best_model_at_end": bool(cleaned.get("load_best_model_at_end")),
            }
            for name, asked in needs_validation.items():
                if asked:
                    self.add_error(name, "This compares validation losses: choose validation data too.")
        several_gpus = (cleaned.get("gpus") or 1) > 1
        if several_gpus and cleaned.get("sharding") == "fsdp" and cleaned.get("adapter") == "qlora":
            self.add_error("sharding", "QLoRA's 4-bit weights are not sharded with FSDP: use DDP, or LoRA.")
        return cleaned

    def memory_estimate(self) -> dict[str, Any]:
        """What the job will need on each GPU, and whether the largest reported GPU has it."""
        return memory_fit(**{name: self._current(name) for name in MEMORY_FIT_SETTINGS})

    def save(self):
        data = self.cleaned_data
        hyperparameters = {name: data[name] for name in HYPERPARAMETER_FIELDS}
        if data.get("start_from_checkpoint"):
            hyperparameters["start_from_checkpoint"] = data["start_from_checkpoint"].pk
        return job_create(
            project=self.project,
            created_by=self.user,
            provider=KEY,
            name=data["name"],
            method=data["method"],
            base_model=data["base_model"],
            training_version=data["training_version"],
            validation_version=data["validation_version"],
            hyperparameters=hyperparameters,
            seed=data["seed"],
            replaces=data.get("replaces"),
        )
