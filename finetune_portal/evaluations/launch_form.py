"""The launch form's optional "when this job succeeds, evaluate it and its base on version X", saved with
the job (registered with the jobs app's launch extras in apps.py): the same attachment the job's page
makes, for people who may use the playground."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.items import EvaluationInputError, evaluable_versions
from finetune_portal.evaluations.metrics import ACCURACY, JUDGE, METRICS
from finetune_portal.evaluations.on_success import evaluation_on_success_add
from finetune_portal.projects.access import ProjectAccess

PREFIX = "evaluate"


class EvaluateOnLaunchForm(forms.Form):
    template_name = "evaluations/parts/launch_extra.html"

    version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        required=False,
        empty_label="Don't evaluate",
        label="When it succeeds, evaluate it and its base on",
        help_text="A held-out version; the base's answers are reused from an earlier evaluation on it.",
    )
    metric = forms.ChoiceField(
        choices=[(k, f"{m.label} · {m.task}") for k, m in METRICS.items() if k != JUDGE],
        initial=ACCURACY,
        required=False,
        label="Metric",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, prefix=PREFIX, **kwargs)
        self.fields["version"].queryset = evaluable_versions(project)

    def save_for(self, *, job, user) -> None:
        version = self.cleaned_data.get("version")
        if version is None:
            return
        metric = self.cleaned_data.get("metric") or ACCURACY
        try:
            evaluation_on_success_add(job=job, version=version, metric=metric, user=user)
        except EvaluationInputError as exc:
            self.add_error("version" if exc.field in ("version", None) else exc.field, exc.message)
            raise ValidationError(exc.message) from exc


def evaluate_on_launch_form(data, access: ProjectAccess) -> EvaluateOnLaunchForm | None:
    """The launch form's extra for those who may start evaluations (who may use the playground)."""
    if not access.can_use_playground:
        return None
    return EvaluateOnLaunchForm(data, project=access.project)
