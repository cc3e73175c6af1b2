from __future__ import annotations

from django import forms

from finetune_portal.captures.models import PROBES, CaptureMode
from finetune_portal.captures.selectors import source_versions
from finetune_portal.captures.services import MAX_TOKENS_LIMIT
from finetune_portal.datasets.models import DatasetVersion, SplitRole
from finetune_portal.registry.models import FineTunedModel, ModelStatus


class CaptureForm(forms.Form):
    model = forms.ModelChoiceField(queryset=FineTunedModel.objects.none(), label="Model")
    source = forms.ChoiceField(label="Prompts", help_text="A chat example is asked up to its last answer.")
    mode = forms.ChoiceField(
        choices=CaptureMode.choices,
        initial=CaptureMode.DIRECT,
        widget=forms.RadioSelect,
        help_text="The Batch API costs half as much and answers within 24 hours.",
    )
    max_tokens = forms.IntegerField(
        min_value=1, max_value=MAX_TOKENS_LIMIT, initial=512, label="Max tokens per answer"
    )
    token = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = (
            FineTunedModel.objects.filter(job__project=project, status=ModelStatus.AVAILABLE)
            .exclude(provider_model_id="")
            .select_related("job")
            .order_by("-created_at")
        )
        self.fields["model"].label_from_instance = lambda m: m.provider_model_id
        self.versions = {str(v.pk): v for v in source_versions(project)}
        self.fields["source"].choices = [
            (PROBES, "The project's saved probes"),
            *[(pk, f"{v.dataset.name} v{v.number}{_role(v)}") for pk, v in self.versions.items()],
        ]

    def clean_source(self) -> DatasetVersion | None:
        value = self.cleaned_data["source"]
        return None if value == PROBES else self.versions[value]


def _role(version: DatasetVersion) -> str:
    return " · held out" if version.split_role == SplitRole.VALIDATION else ""
