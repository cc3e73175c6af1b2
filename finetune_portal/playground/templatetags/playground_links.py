"""Links into the playground from other apps' pages (a job's "Try it", a model row, a checkpoint row),
so those apps need not know how a model is named for chatting."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse

from finetune_portal.inference.catalog import served_model_of, served_model_of_checkpoint
from finetune_portal.providers.chat import ServedModel
from finetune_portal.providers.registry import provider_or_none
from finetune_portal.registry.models import ModelStatus

register = template.Library()


def _chat_model(fine_tuned_model=None, checkpoint=None) -> ServedModel | None:
    if checkpoint is not None:
        owner = getattr(checkpoint.job, "fine_tuned_model", None)
        if owner is None or owner.status != ModelStatus.AVAILABLE:
            return None
        served = served_model_of_checkpoint(checkpoint)
    elif fine_tuned_model is not None and fine_tuned_model.status == ModelStatus.AVAILABLE:
        served = served_model_of(fine_tuned_model)
    else:
        return None
    if served is None:
        return None
    provider = provider_or_none(served.provider)
    return served if provider is not None and provider.capabilities.inference else None


@register.simple_tag
def playground_href(project, fine_tuned_model=None, checkpoint=None) -> str:
    """The playground with this model picked, or "" when it cannot be chatted with."""
    served = _chat_model(fine_tuned_model, checkpoint)
    if served is None:
        return ""
    return f"{reverse('playground:page', args=[project.slug])}?{urlencode({'model': served.name})}"


@register.simple_tag
def probe_answers_href(project, fine_tuned_model) -> str:
    """The probe grid narrowed to this model, or "" when it cannot be chatted with."""
    served = _chat_model(fine_tuned_model)
    if served is None:
        return ""
    return f"{reverse('playground:probes', args=[project.slug])}?{urlencode({'model': served.name})}"
