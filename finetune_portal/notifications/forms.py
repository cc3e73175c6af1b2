from __future__ import annotations

from django import forms


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
