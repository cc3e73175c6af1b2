"""The installed providers, as listed in ``settings.FINETUNE_PROVIDERS`` (import paths of provider classes).

The core apps reach providers only through here, by the key stored on a job or a dataset version.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from finetune_portal.providers.base import DatasetProfile, FineTuningProvider, ProviderUnavailable

_loaded: dict[tuple[str, ...], dict[str, FineTuningProvider]] = {}


def _installed() -> dict[str, FineTuningProvider]:
    # Keyed by the setting's value, so a test that overrides it gets its own providers.
    paths = tuple(settings.FINETUNE_PROVIDERS)
    if paths not in _loaded:
        providers = [import_string(path)() for path in paths]
        _loaded[paths] = {provider.key: provider for provider in providers}
    return _loaded[paths]


def all_providers() -> list[FineTuningProvider]:
    return list(_installed().values())


def provider_keys() -> list[str]:
    return list(_installed())


def provider_choices() -> list[tuple[str, str]]:
    """(key, label) of every installed provider, for model fields and forms."""
    return [(provider.key, provider.label) for provider in all_providers()]


def default_provider_key() -> str:
    """The first installed provider: what a form or a dataset estimate starts with."""
    return next(iter(_installed()))


def get_provider(key: str) -> FineTuningProvider:
    provider = _installed().get(key)
    if provider is None:
        raise ProviderUnavailable(f"The {key} provider is not installed on this server.")
    return provider


def provider_or_none(key: str) -> FineTuningProvider | None:
    """The provider of a stored job, or None where it is no longer installed."""
    return _installed().get(key)


def get_launch_form_class(key: str):
    return get_provider(key).launch_form_class()


def dataset_profile(key: str) -> DatasetProfile:
    return get_provider(key).dataset_profile
