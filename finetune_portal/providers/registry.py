from __future__ import annotations

from django.utils.module_loading import import_string

from finetune_portal.providers.base import FineTuningProvider, ProviderUnavailable

# Import paths, so the web process never imports a provider's heavy dependencies until it is used.
PROVIDER_CLASSES: dict[str, str] = {
    "openai": "finetune_portal.providers.openai.adapter.OpenAIProvider",
    "local_peft": "finetune_portal.providers.peft.adapter.PeftProvider",
}


def get_provider(key: str) -> FineTuningProvider:
    path = PROVIDER_CLASSES.get(key)
    if path is None:
        raise ProviderUnavailable(f"Unknown provider {key!r}.")
    try:
        provider_class = import_string(path)
    except ImportError as exc:
        raise ProviderUnavailable(f"The {key} provider is not installed on this server ({exc}).") from exc
    return provider_class()
