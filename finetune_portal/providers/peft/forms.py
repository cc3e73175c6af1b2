"""The launch form of the local GPU provider: base model, data, adapter and training settings."""

from __future__ import annotations

from typing import Any

from django import forms

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
from finetune_portal.providers.peft.form_fields import DEMO_TINY_SUGGESTED, HYPERPARAMETER_FIELDS, SECTIONS
from finetune_portal.providers.peft.launch_fields import PeftLaunchFields
from finetune_portal.providers.peft.local_models import local_model_folder
from finetune_portal.providers.peft.memory_fit import MEMORY_FIT_SETTINGS, memory_fit
from finetune_portal.providers.peft.provider import KEY
from finetune_portal.providers.peft.retrain import LEARNING_RATE_MAPPING
from finetune_portal.providers.peft.selectors import versions_for_method


class PeftJobForm(PeftLaunchFields):
    template_name = "providers/peft/job_form.html"

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
