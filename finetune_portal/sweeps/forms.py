"""The "New sweep" form: the fixed settings come from the provider's own launch form, the swept ones are
lists of values for whichever of the sweepable settings that form has."""

from __future__ import annotations

import copy
from typing import Any

from django import forms

from finetune_portal.providers.registry import get_launch_form_class
from finetune_portal.sweeps.models import Strategy
from finetune_portal.sweeps.space import HARD_MAX_RUNS, SWEEPABLE, SpaceError, expand

# The launch form's fields a sweep keeps the same for every run (the rest take the form's defaults).
FIXED_FIELDS = ("base_model", "method", "training_version", "validation_version")
PREFIX = "sweep_"


class SweepForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Each run is named after it and its values.")
    strategy = forms.ChoiceField(choices=Strategy.choices, initial=Strategy.GRID)
    max_runs = forms.IntegerField(
        min_value=1,
        max_value=HARD_MAX_RUNS,
        initial=4,
        label="Most runs",
        help_text="A grid larger than this is refused; a random sample draws this many.",
    )
    max_concurrent = forms.IntegerField(
        min_value=1,
        max_value=20,
        initial=2,
        label="Runs at once",
        help_text="The next run starts when one ends.",
    )
    cost_cap = forms.DecimalField(
        min_value=0,
        max_digits=12,
        decimal_places=2,
        required=False,
        label="Cost cap (USD)",
        help_text="Refused up front when the runs' estimated cost passes it. Local runs are not billed.",
    )
    seed = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, initial=0, label="Sample seed", help_text="Random sample only."
    )

    def __init__(self, data=None, *args, project, user, provider: str, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.project, self.user, self.provider = project, user, provider
        form_class = get_launch_form_class(provider)
        # Bound to the same data, so fields that depend on the method (which versions fit) follow it.
        launch = (
            form_class(data, project=project, user=user)
            if data is not None
            else form_class(project=project, user=user)
        )
        self.launch_fields = [name for name in FIXED_FIELDS if name in launch.fields]
        for name in self.launch_fields:
            self.fields[name] = copy.deepcopy(launch.fields[name])
            if name in launch.initial:
                self.initial.setdefault(name, launch.initial[name])
        self.swept_fields: list[str] = []
        for name in SWEEPABLE:
            if name not in launch.fields:
                continue
            field = launch.fields[name]
            default = launch[name].value()
            self.fields[PREFIX + name] = forms.CharField(
                required=False,
                label=f"{field.label or name.replace('_', ' ').capitalize()} values",
                help_text=f"Separated by commas (e.g. {default if default is not None else '1, 2'}); empty "
                "keeps the form's default" + (f" ({default})." if default is not None else "."),
            )
            self.swept_fields.append(name)
        self.launch_form_class = form_class

    @property
    def fixed_fields(self):
        return [self[name] for name in self.launch_fields]

    @property
    def value_fields(self):
        return [self[PREFIX + name] for name in self.swept_fields]

    @property
    def settings_fields(self):
        return [self[name] for name in ("name", "strategy", "max_runs", "max_concurrent", "cost_cap", "seed")]

    def _values(self, name: str) -> list[Any]:
        raw = (self.cleaned_data.get(PREFIX + name) or "").strip()
        if not raw:
            return []
        launch_field = self.launch_form_class.base_fields[name]
        values: list[Any] = []
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = launch_field.to_python(part)
            except forms.ValidationError as exc:
                raise forms.ValidationError(f"{part!r} is not a number.") from exc
            if value not in values:
                values.append(value)
        return values

    def clean(self):
        cleaned = super().clean()
        space: dict[str, list[Any]] = {}
        for name in self.swept_fields:
            try:
                values = self._values(name)
            except forms.ValidationError as exc:
                self.add_error(PREFIX + name, exc)
                continue
            if values:
                space[name] = values
        self.space = space
        if not self.errors:
            if not space:
                raise forms.ValidationError("Give values for at least one setting to sweep.")
            try:
                self.runs = expand(
                    space,
                    strategy=cleaned.get("strategy") or Strategy.GRID,
                    max_runs=cleaned.get("max_runs") or 1,
                    seed=cleaned.get("seed"),
                )
            except SpaceError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return cleaned

    def fixed_settings(self) -> dict[str, Any]:
        fixed: dict[str, Any] = {}
        for name in self.launch_fields:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                continue
            fixed[name] = value.pk if hasattr(value, "pk") else value
        return fixed
