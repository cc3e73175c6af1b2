from __future__ import annotations

from django import forms

from finetune_portal.datasets.models import DatasetKind
from finetune_portal.providers.registry import all_providers, default_provider_key, provider_choices


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=DatasetKind.choices, initial=DatasetKind.CHAT)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Dataset file",
        error_messages={"required": "Choose a .jsonl or .csv file to upload."},
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.csv"}),
    )
    # Which provider's rules, tokenizer and prices the report applies (each provider's dataset profile).
    target = forms.ChoiceField(choices=provider_choices, label="Estimate for", required=False)
    base_model = forms.CharField(
        required=False,
        max_length=200,
        label="Base model",
        widget=forms.TextInput(attrs={"list": "base-models"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        profiles = [provider.dataset_profile for provider in all_providers()]
        self.fields["target"].initial = default_provider_key()
        takes = [profile.base_model_help for profile in profiles if profile.base_model_help]
        empty = "Empty: the cheapest current model for this kind of data."
        self.fields["base_model"].help_text = f"{', or '.join(takes)}. {empty}" if takes else empty
        placeholder = next((p.base_model_placeholder for p in profiles if p.base_model_placeholder), "")
        if placeholder:
            self.fields["base_model"].widget.attrs["placeholder"] = placeholder
        self.base_model_names = [name for profile in profiles for name in profile.base_model_names]

    def clean_target(self):
        return self.cleaned_data.get("target") or default_provider_key()


_MISSING_COLUMN = {"invalid_choice": "The CSV has no column %(value)s.", "required": "Choose a column."}


class CsvMappingForm(forms.Form):
    prompt_column = forms.ChoiceField(label="User / prompt column", error_messages=_MISSING_COLUMN)
    answer_column = forms.ChoiceField(
        label="Assistant / answer (label) column", error_messages=_MISSING_COLUMN
    )
    system_prompt = forms.CharField(
        required=False,
        label="System prompt (optional)",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Classify the sentiment of a bank review."}),
    )

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(c, c) for c in columns]
        self.fields["prompt_column"].choices = choices
        self.fields["answer_column"].choices = choices
        if len(columns) > 1 and not self.is_bound:
            self.initial.setdefault("answer_column", columns[1])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("prompt_column") and cleaned.get("prompt_column") == cleaned.get("answer_column"):
            raise forms.ValidationError("The prompt and the answer must come from two different columns.")
        return cleaned


class SplitForm(forms.Form):
    validation_percent = forms.IntegerField(
        min_value=1, max_value=50, initial=10, label="Validation share (%)"
    )
    seed = forms.IntegerField(min_value=0, initial=42)
