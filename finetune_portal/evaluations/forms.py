from __future__ import annotations

import json
from decimal import Decimal

from django import forms

from finetune_portal.datasets.models import DatasetVersion, SplitRole
from finetune_portal.evaluations.items import evaluable_versions
from finetune_portal.evaluations.metrics import JUDGE, METRICS


class EvaluationForm(forms.Form):
    version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset version")
    models = forms.MultipleChoiceField(
        label="Models",
        help_text="The first two are compared item by item (A against B).",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    metric = forms.ChoiceField(choices=[(k, f"{m.label} · {m.task}") for k, m in METRICS.items()])
    judge_model = forms.ChoiceField(required=False, label="Judge model (LLM-as-judge)")
    rubric = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Rubric (LLM-as-judge)"
    )
    json_schema = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="JSON Schema (structured output, optional)",
    )
    max_tokens = forms.IntegerField(min_value=1, max_value=4096, initial=128, label="Max tokens per answer")
    cost_cap_usd = forms.DecimalField(
        required=False,
        min_value=Decimal("0"),
        decimal_places=4,
        label="Cost cap (USD)",
        help_text="Refused before anything is asked when the estimate passes it.",
    )

    def __init__(self, *args, project, served, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = evaluable_versions(project)
        choices = [(m.name, m.label) for m in served]
        self.fields["models"].choices = choices
        self.fields["judge_model"].choices = [("", "—"), *choices]

    def clean_json_schema(self):
        text = self.cleaned_data["json_schema"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON Schema is a JSON object.")
        return value


class FixForm(forms.Form):
    reference = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class EvaluateOnSuccessForm(forms.Form):
    """ "When this job succeeds, evaluate it (and its base) on this version." A judge needs a rubric and
    a judge model, which the evaluations page asks for; here, the metrics that need none."""

    version = forms.ModelChoiceField(queryset=DatasetVersion.objects.none(), label="Dataset version")
    metric = forms.ChoiceField(
        choices=[(k, f"{m.label} · {m.task}") for k, m in METRICS.items() if k != JUDGE]
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        versions = evaluable_versions(project)
        self.fields["version"].queryset = versions
        # The held-out set is the natural choice: the newest validation version, else the newest one.
        default = versions.filter(split_role=SplitRole.VALIDATION).order_by("-created_at").first()
        if default is None:
            default = versions.order_by("-created_at").first()
        if default is not None:
            self.fields["version"].initial = default.pk
