from __future__ import annotations

from django import forms

from finetune_portal.credentials.models import CredentialKind


class CredentialForm(forms.Form):
    kind = forms.ChoiceField(choices=CredentialKind.choices)
    label = forms.CharField(max_length=120)
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; only its last four characters are ever shown again.",
    )
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="Optional: an OpenAI-compatible endpoint, e.g. https://my-proxy.example.com/v1.",
    )
    organization = forms.CharField(
        required=False, max_length=100, help_text="Optional OpenAI organization id."
    )

    def clean_secret(self):
        secret = self.cleaned_data["secret"].strip()
        if len(secret) < 8:
            raise forms.ValidationError("That is too short to be an API key.")
        return secret
