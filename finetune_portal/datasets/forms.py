from __future__ import annotations

from django import forms

from finetune_portal.datasets.models import DatasetKind
from finetune_portal.providers.openai.catalog import BASE_MODELS

TARGET_CHOICES = [("openai", "OpenAI"), ("local_peft", "Local GPU (PEFT)")]


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
    target = forms.ChoiceField(choices=TARGET_CHOICES, initial="openai", label="Estimate for", required=False)
    base_model = forms.CharField(
        required=False,
        max_length=200,
        label="Base model",
        help_text="An OpenAI model from the price table, or a local model path/id for PEFT. "
        "Empty: the cheapest current model for this kind of data.",
        widget=forms.TextInput(attrs={"list": "base-models", "placeholder": "gpt-4o-mini-2024-07-18"}),
    )

    base_model_names = [info.name for info in BASE_MODELS]

    def clean_target(self):
        return self.cleaned_data.get("target") or "openai"


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
