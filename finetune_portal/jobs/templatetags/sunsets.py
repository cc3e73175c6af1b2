"""When a job's or model's provider stops serving it, asked of the provider (its model_sunset hook)."""

from __future__ import annotations

from django import template

from finetune_portal.providers.base import Sunset
from finetune_portal.providers.registry import provider_or_none

register = template.Library()


@register.simple_tag
def model_sunset(provider_key: str, model_id: str) -> Sunset | None:
    """``{% model_sunset job.provider job.base_model as sunset %}``: its shutdown, or None."""
    provider = provider_or_none(provider_key)
    if provider is None or not provider.has_sunsets or not model_id:
        return None
    return provider.model_sunset(model_id)
