from __future__ import annotations

from django import forms

from finetune_portal.notifications.webhook import webhook_url_problem


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=1000,
        assume_scheme="https",
        widget=forms.URLInput(
            attrs={"autocomplete": "off", "placeholder": "https://hooks.slack.com/services/…"}
        ),
        help_text='Slack-compatible: the portal POSTs {"text": …}. Empty removes it. Stored encrypted.',
    )

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        problem = webhook_url_problem(url, resolve=False) if url else None
        if problem:
            raise forms.ValidationError(problem)
        return url
