"""The launch form for OpenAI jobs: model, method, data, hyperparameters, grader, and a cost estimate."""

from __future__ import annotations

import json
from typing import Any

import openai
from django import forms
from django.urls import reverse
from django.utils.html import format_html

from finetune_portal.credentials.services import credential_resolve
from finetune_portal.datasets.models import DatasetKind, DatasetVersion
from finetune_portal.datasets.selectors import versions_selectable_for_jobs
from finetune_portal.jobs.models import Method
from finetune_portal.jobs.selectors.lists import launch_settings_of
from finetune_portal.jobs.services import job_create
from finetune_portal.providers.openai import catalog, sunsets
from finetune_portal.providers.openai.dataset_profile import OpenAIDatasetProfile
from finetune_portal.providers.openai.estimate import Estimate, estimate_for
from finetune_portal.providers.openai.graders import grader_problems
from finetune_portal.providers.openai.mapping import HYPERPARAMETERS
from finetune_portal.providers.openai.provider import KEY

# Which dataset kinds each method trains on (vision is supervised training on image chats).
KINDS_FOR_METHOD = {
    Method.SFT: (DatasetKind.CHAT, DatasetKind.COMPLETION, DatasetKind.VISION),
    Method.DPO: (DatasetKind.DPO,),
    Method.RFT: (DatasetKind.RFT,),
}
# The form waits this long at most for the endpoint's grader check, then goes on without it.
GRADER_CHECK_TIMEOUT = 5.0
# The form starts from the model the dataset pages price, for the kind the method trains first.
DATASET_PROFILE = OpenAIDatasetProfile()

GRADER_EXAMPLE = "e.g. " + json.dumps(
    {
        "type": "string_check",
        "name": "exact answer",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
)


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: DatasetVersion) -> str:
        examples = f", {obj.example_count} examples" if obj.example_count else ""
        return f"{obj.dataset.name} v{obj.number} ({obj.dataset.get_kind_display()}{examples})"


def _number(label: str, *, integer: bool = False, **bounds) -> forms.Field:
    field_class = forms.IntegerField if integer else forms.FloatField
    return field_class(
        label=label, required=False, widget=forms.NumberInput(attrs={"placeholder": "auto"}), **bounds
    )


class OpenAIJobForm(forms.Form):
    template_name = "providers/openai/form.html"

    name = forms.CharField(label="Job name", max_length=120, required=False)
    method = forms.ChoiceField(label="Method", choices=Method.choices, initial=Method.SFT)
    base_model = forms.CharField(
        label="Base model",
        max_length=200,
        help_text="Pick one fine-tunable for the method, or type any model name (including an ft: model).",
        widget=forms.TextInput(attrs={"list": "openai-base-models", "autocomplete": "off"}),
    )
    training_version = VersionChoiceField(label="Training data", queryset=DatasetVersion.objects.none())
    validation_version = VersionChoiceField(
        label="Validation data",
        queryset=DatasetVersion.objects.none(),
        required=False,
        empty_label="None (optional)",
    )
    n_epochs = _number("Epochs", integer=True, min_value=1, max_value=50)
    batch_size = _number("Batch size", integer=True, min_value=1, max_value=256)
    learning_rate_multiplier = _number("Learning-rate multiplier", min_value=1e-6, max_value=100)
    beta = _number("DPO beta", min_value=1e-6, max_value=2)
    reasoning_effort = forms.ChoiceField(
        label="RFT reasoning effort",
        required=False,
        choices=[("default", "default"), ("low", "low"), ("medium", "medium"), ("high", "high")],
    )
    compute_multiplier = _number("RFT compute multiplier", min_value=0.00001, max_value=10)
    eval_interval = _number("RFT eval interval", integer=True, min_value=1)
    eval_samples = _number("RFT eval samples", integer=True, min_value=1)
    grader = forms.CharField(
        label="RFT grader (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 7, "placeholder": GRADER_EXAMPLE, "spellcheck": "false"}),
        help_text="string_check, text_similarity, score_model, label_model, python or multi.",
    )
    suffix = forms.CharField(
        label="Model name suffix", max_length=64, required=False, help_text="Up to 64 characters."
    )
    seed = forms.IntegerField(label="Seed", required=False, min_value=0, max_value=2_147_483_647)

    HYPERPARAMETER_FIELDS = (
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
        "beta",
        "reasoning_effort",
        "compute_multiplier",
        "eval_interval",
        "eval_samples",
    )

    @classmethod
    def initial_from_job(cls, job) -> dict[str, Any]:
        """The form filled in as ``job`` was launched, to run it again or change one setting."""
        initial = {**launch_settings_of(job), "suffix": job.suffix, "seed": job.seed}
        hyperparameters = job.hyperparameters or {}
        initial.update(
            {name: hyperparameters[name] for name in cls.HYPERPARAMETER_FIELDS if name in hyperparameters}
        )
        grader = (job.provider_data or {}).get("grader")
        if grader:
            initial["grader"] = json.dumps(grader, indent=2)
        return initial

    def __init__(self, data=None, *, project, user, **kwargs):
        super().__init__(data, **kwargs)
        self.project = project
        self.user = user
        valid = (
            versions_selectable_for_jobs(project)
            .exclude(dataset__kind__in=[DatasetKind.ALPACA, DatasetKind.TEXT])
            .order_by("dataset__name", "-number")
        )
        self.fields["training_version"].queryset = valid
        self.fields["validation_version"].queryset = valid
        self.fields["base_model"].initial = DATASET_PROFILE.default_base_model(
            KINDS_FOR_METHOD[Method(self.chosen_method)][0]
        )
        # The lists offer the data the chosen method trains on (as the local form does); any valid version
        # is still accepted, so one of another kind gets clean()'s message saying which kinds fit.
        offered = valid.filter(dataset__kind__in=KINDS_FOR_METHOD[Method(self.chosen_method)])
        for name in ("training_version", "validation_version"):
            field = self.fields[name]
            empty = [("", field.empty_label)] if field.empty_label is not None else []
            field.widget.choices = empty + [(v.pk, field.label_from_instance(v)) for v in offered]

    # -- what the template shows -------------------------------------------------------------------

    @property
    def chosen_method(self) -> str:
        value = self.data.get("method") if self.is_bound else self.initial.get("method")
        return value if value in Method.values else Method.SFT

    @property
    def model_choices(self) -> list[catalog.BaseModelInfo]:
        """The catalog's models for the method, less those OpenAI has shut down."""
        today = sunsets.today()
        return [
            info
            for info in catalog.base_models_for(self.chosen_method)
            if not sunsets.is_shut_down(info.name, on=today)
        ]

    @property
    def fine_tuning_closed(self) -> str | None:
        """Why OpenAI takes no new jobs at all any more (shown above the form), or None."""
        return sunsets.fine_tuning_refusal("", on=sunsets.today())

    @property
    def exit_url(self) -> str:
        return reverse("exits:project", args=[self.project.slug])

    @property
    def chosen_sunset(self):
        """When the chosen base model stops answering (the days left are shown beside it)."""
        model = (
            (self.data.get("base_model") if self.is_bound else None)
            or self.initial.get("base_model")
            or self.fields["base_model"].initial
        )
        return sunsets.model_sunset(model) if model else None

    @property
    def hints_url(self) -> str:
        return reverse("openai_provider:launch_hints", args=[self.project.slug])

    @property
    def estimate(self) -> Estimate | None:
        data = self.data if self.is_bound else {}
        version = None
        version_id = data.get("training_version")
        if version_id and str(version_id).isdigit():
            version = self.fields["training_version"].queryset.filter(pk=version_id).first()
        try:
            n_epochs = int(data.get("n_epochs") or 0) or None
        except ValueError:
            n_epochs = None
        model = data.get("base_model") or (
            DATASET_PROFILE.default_base_model(version.dataset.kind)
            if version
            else self.fields["base_model"].initial
        )
        return estimate_for(version=version, base_model=model, n_epochs=n_epochs)

    # -- checks ------------------------------------------------------------------------------------

    def clean_base_model(self) -> str:
        model = self.cleaned_data["base_model"].strip()
        refusal = sunsets.fine_tuning_refusal(model, on=sunsets.today())
        if refusal:
            raise forms.ValidationError(
                format_html('{} <a href="{}">See what to do on the exit page</a>.', refusal, self.exit_url)
            )
        return model

    def clean_grader(self):
        text = self.cleaned_data["grader"].strip()
        if not text:
            return None
        try:
            grader = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}.") from exc
        problems = grader_problems(grader)
        if problems:
            raise forms.ValidationError(problems)
        return grader

    def clean(self):
        data = super().clean()
        method = data.get("method")
        if not method:
            return data
        kinds = KINDS_FOR_METHOD[Method(method)]
        for field in ("training_version", "validation_version"):
            version = data.get(field)
            if version is not None and version.dataset.kind not in kinds:
                self.add_error(
                    field,
                    f"{version.dataset.get_kind_display()} data cannot train a {Method(method).label} job; "
                    f"pick a {' or '.join(DatasetKind(k).label for k in kinds)} dataset.",
                )
        training, validation = data.get("training_version"), data.get("validation_version")
        if training and validation and training.dataset.kind != validation.dataset.kind:
            self.add_error(
                "validation_version", "Validation data must be of the same kind as the training data."
            )
        model = data.get("base_model")
        info = catalog.base_model_info(model) if model else None
        if info is not None and method not in info.methods:
            methods = ", ".join(Method(m).label for m in sorted(info.methods))
            self.add_error("base_model", f"{info.name} supports {methods}, not {Method(method).label}.")
        if info is not None and training and training.dataset.kind == DatasetKind.VISION and not info.vision:
            self.add_error(
                "base_model", f"{info.name} cannot be fine-tuned on images; use gpt-4o-2024-08-06."
            )
        if method == Method.RFT:
            if not data.get("grader") and "grader" not in self.errors:
                self.add_error("grader", "Reinforcement fine-tuning needs a grader.")
            elif data.get("grader"):
                self._validate_grader_at_endpoint(data["grader"])
        return data

    def _validate_grader_at_endpoint(self, grader: dict) -> None:
        """Ask the endpoint's grader check when it has one; no endpoint (or no answer) is not an error."""
        from finetune_portal.providers.openai.client import openai_client_for

        credential = credential_resolve(kind="openai", project=self.project)
        if credential is None:
            return
        try:
            client = openai_client_for(credential, max_retries=0).with_options(timeout=GRADER_CHECK_TIMEOUT)
            client.fine_tuning.alpha.graders.validate(grader=grader)
        except openai.BadRequestError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = (body.get("error") or body).get("message") if isinstance(body, dict) else None
            self.add_error("grader", f"OpenAI says: {message or exc.message}")
        except openai.OpenAIError:
            return

    # -- save --------------------------------------------------------------------------------------

    def save(self):
        data = self.cleaned_data
        method = data["method"]
        # Settings of other methods (typed, then the method changed) are not sent.
        hyperparameters = {
            key: data[key]
            for key in HYPERPARAMETERS[Method(method)]
            if data.get(key) not in (None, "", "default")
        }
        estimate = estimate_for(
            version=data["training_version"], base_model=data["base_model"], n_epochs=data.get("n_epochs")
        )
        return job_create(
            project=self.project,
            created_by=self.user,
            name=data["name"],
            provider=KEY,
            method=method,
            base_model=data["base_model"],
            training_version=data["training_version"],
            validation_version=data.get("validation_version"),
            hyperparameters=hyperparameters,
            suffix=data["suffix"],
            seed=data.get("seed"),
            estimated_cost=estimate.cost if estimate else None,
            provider_data={"grader": data["grader"]} if method == Method.RFT else {},
        )
