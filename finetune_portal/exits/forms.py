from __future__ import annotations

from django import forms

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.items import evaluable_versions
from finetune_portal.evaluations.metrics import METRICS
from finetune_portal.exits.parity import AUTO_METRIC, PARITY_METRICS


class ParityForm(forms.Form):
    """The held-out items and the metric of a parity check; both have defaults, so one click starts it."""

    version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        label="Held-out items",
        empty_label="Choose a version",
        error_messages={"required": "Choose the held-out version to compare on."},
    )
    metric = forms.ChoiceField(
        choices=[(AUTO_METRIC, "Suited to the data"), *[(k, METRICS[k].label) for k in PARITY_METRICS]],
        initial=AUTO_METRIC,
    )
    # Sent from a replacement's own page: compare that one rather than the newest.
    replacement = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, project, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = evaluable_versions(project)
        if job.validation_version_id and not self.is_bound:
            self.initial.setdefault("version", job.validation_version_id)
        self.fields["version"].widget.attrs["aria-label"] = "Held-out items"
        self.fields["metric"].widget.attrs["aria-label"] = "Metric"
