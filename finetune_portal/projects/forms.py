from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from finetune_portal.projects.audit_labels import action_choices
from finetune_portal.projects.models import Project, Role


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "slug", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["monthly_budget_usd"]
        widgets = {"monthly_budget_usd": forms.NumberInput(attrs={"step": "0.01", "min": "0"})}


class MembershipForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        if not get_user_model().objects.filter(username=username).exists():
            raise forms.ValidationError(f"There is no user called {username!r}.")
        return username


class AuditFilterForm(forms.Form):
    """Filters of the audit log page; GET parameters, all optional."""

    person = forms.ModelChoiceField(queryset=None, required=False, empty_label="Anyone")
    action = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = actors
        self.fields["action"].choices = [("", "Any action"), *action_choices()]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned
