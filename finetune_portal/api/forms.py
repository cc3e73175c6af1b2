from __future__ import annotations

from django import forms

from finetune_portal.api.selectors import api_token_projects


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “eval script” or “support bot staging”."
    )
    project = forms.ModelChoiceField(
        queryset=None, empty_label=None, help_text="The token sees only this project's models."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = api_token_projects(user)
