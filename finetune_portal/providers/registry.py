from __future__ import annotations

from django.utils.module_loading import import_string

from finetune_portal.providers.base import FineTuningProvider, ProviderUnavailable

# Import paths, so the web process never imports a provider's heavy dependencies until it is used.
PROVIDER_CLASSES: dict[str, str] = {
    "openai": "finetune_portal.providers.openai.adapter.OpenAIProvider",
    "local_peft": "finetune_portal.providers.peft.adapter.PeftProvider",
}

# Each provider's launch form: a Django form taking (data, project=, user=) whose save() returns a draft job.
PROVIDER_FORMS: dict[str, str] = {
    "openai": "finetune_portal.providers.openai.forms.OpenAIJobForm",
    "local_peft": "finetune_portal.providers.peft.forms.PeftJobForm",
}


def _load(paths: dict[str, str], key: str):
    path = paths.get(key)
    if path is None:
        raise ProviderUnavailable(f"Unknown provider {key!r}.")
    try:
        return import_string(path)
    except ImportError as exc:
        raise ProviderUnavailable(f"The {key} provider is not installed on this server ({exc}).") from exc


def get_launch_form_class(key: str):
    return _load(PROVIDER_FORMS, key)


def get_provider(key: str) -> FineTuningProvider:
    return _load(PROVIDER_CLASSES, key)()


def provider_supports_pause(key: str) -> bool:
    try:
        return _load(PROVIDER_CLASSES, key).supports_pause
    except ProviderUnavailable:
        return False


def default_provider_key() -> str:
    """The provider a dataset is checked for when the user names none: the first installed one."""
    return next(iter(PROVIDER_CLASSES))
