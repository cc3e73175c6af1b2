"""The runs list's filters and sort orders, read from the query string."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet

from finetune_portal.jobs.models import FineTuningJob, Method
from finetune_portal.jobs.selectors.lists import with_run_figures
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.registry import provider_choices

SORTS = {
    "-created": ("Newest first", [F("created_at").desc()]),
    "created": ("Oldest first", [F("created_at").asc()]),
    "final_valid_loss": ("Final validation loss", [F("final_valid_loss").asc(nulls_last=True)]),
    "best_valid_loss": ("Best validation loss", [F("best_valid_loss").asc(nulls_last=True)]),
    # Actual costs first, then estimates, each in order: an estimate is never ranked among real costs.
    "cost": ("Cost, lowest first", [F("cost_kind").asc(), F("cost").asc(nulls_last=True)]),
    "-cost": ("Cost, highest first", [F("cost_kind").asc(), F("cost").desc(nulls_last=True)]),
    "duration": ("Duration, shortest first", [F("duration").asc(nulls_last=True)]),
    "-duration": ("Duration, longest first", [F("duration").desc(nulls_last=True)]),
}
DEFAULT_SORT = "-created"


def _any(choices) -> list[tuple[str, str]]:
    return [("", "Any"), *choices]


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=_any(JobStatus.choices))
    provider = forms.ChoiceField(required=False, choices=lambda: _any(provider_choices()))
    method = forms.ChoiceField(required=False, choices=_any(Method.choices))
    base_model = forms.ChoiceField(required=False, label="Base model")
    dataset = forms.ChoiceField(required=False)
    creator = forms.ChoiceField(required=False, label="Created by")
    sort = forms.ChoiceField(
        required=False, choices=[(key, label) for key, (label, _) in SORTS.items()], label="Sort by"
    )

    def __init__(self, data, *, project):
        super().__init__(data)
        jobs = FineTuningJob.objects.filter(project=project)
        models = jobs.order_by("base_model").values_list("base_model", flat=True).distinct()
        self.fields["base_model"].choices = _any([(m, m) for m in models])
        self.fields["dataset"].choices = _any(
            [(str(d.pk), d.name) for d in project.datasets.order_by("name").only("pk", "name")]
        )
        creators = (
            get_user_model()
            .objects.filter(pk__in=jobs.values("created_by"))
            .order_by("username")
            .values_list("pk", "username")
        )
        self.fields["creator"].choices = _any([(str(pk), name) for pk, name in creators])

    def filter(self, jobs: QuerySet[FineTuningJob]) -> QuerySet[FineTuningJob]:
        """Apply the valid filters; an unknown value in the URL is ignored rather than an error page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        simple = {"status": "status", "provider": "provider", "method": "method", "base_model": "base_model"}
        for name, lookup in simple.items():
            if data.get(name):
                jobs = jobs.filter(**{lookup: data[name]})
        if data.get("dataset"):
            jobs = jobs.filter(training_version__dataset_id=data["dataset"])
        if data.get("creator"):
            jobs = jobs.filter(created_by_id=data["creator"])
        sort = data.get("sort") or DEFAULT_SORT
        return with_run_figures(jobs).order_by(*SORTS[sort][1], "-pk")

    @property
    def active(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in self.fields if name != "sort")
