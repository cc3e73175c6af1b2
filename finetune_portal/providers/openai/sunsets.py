"""OpenAI's wind-down as the portal applies it: when a model stops answering (the catalog's dated table,
overridden by the ``shutdown_date`` OpenAI sends in ``GET /v1/models``), and whether a new fine-tuning
job may still start."""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.dateparse import parse_date

from finetune_portal.providers import base
from finetune_portal.providers.base import Sunset
from finetune_portal.providers.openai import catalog
from finetune_portal.providers.openai.models import ModelShutdownDate


def today() -> date:
    return base.sunset_today()


def shutdown_date(model: str) -> date | None:
    """The day ``model`` stops answering: OpenAI's own date for it (or for its base) when it sent one,
    else the catalog's; None when neither knows."""
    model = model.strip()
    base = catalog.base_model_of(model)
    overrides = dict(
        ModelShutdownDate.objects.filter(model_id__in={model, base}).values_list("model_id", "shutdown_on")
    )
    return overrides.get(model) or overrides.get(base) or catalog.shutdown_on(model)


def is_shut_down(model: str, *, on: date | None = None) -> bool:
    day = shutdown_date(model)
    return day is not None and (on or today()) >= day


def model_sunset(model: str) -> Sunset | None:
    day = shutdown_date(model)
    if day is None:
        return None
    base = catalog.base_model_of(model)
    reason = (
        f"OpenAI shuts down {base} and every model fine-tuned from it on {day:%d %B %Y}; after that day "
        "it answers only on dedicated capacity."
    )
    return Sunset(day=day, reason=reason)


def fine_tuning_refusal(base_model: str, *, on: date | None = None) -> str | None:
    """Why OpenAI will not start a fine-tuning job on ``base_model`` today, or None when it still may."""
    day = on or today()
    if day >= catalog.FINE_TUNING_ENDS_ON:
        return (
            f"OpenAI takes no new fine-tuning jobs since {catalog.FINE_TUNING_ENDS_ON:%d %B %Y}: retrain on "
            "your own GPUs instead."
        )
    shut = shutdown_date(base_model)
    if shut is not None and day >= shut:
        base = catalog.base_model_of(base_model)
        return f"OpenAI shut down {base} on {shut:%d %B %Y}: it can no longer be fine-tuned."
    return None


def shutdown_dates_store(models: list[dict]) -> int:
    """Keep the ``shutdown_date`` of each model object that carries one; returns how many were stored."""
    now = timezone.now()
    stored = 0
    for obj in models:
        model_id, raw = obj.get("id"), obj.get("shutdown_date")
        day = parse_date(raw) if isinstance(raw, str) else None
        if not model_id or day is None:
            continue
        ModelShutdownDate.objects.update_or_create(
            model_id=model_id, defaults={"shutdown_on": day, "read_at": now}
        )
        stored += 1
    return stored


def shutdown_dates_refresh() -> int:
    """Read ``GET /v1/models`` with every active OpenAI credential (each organization sees its own
    fine-tuned models) and keep the shutdown dates OpenAI announces. A credential that fails is skipped:
    the dates it would have sent stay as they were, and the table still answers."""
    import openai

    from finetune_portal.credentials.models import ProviderCredential
    from finetune_portal.providers.openai.client import openai_client_for

    stored = 0
    for credential in ProviderCredential.objects.active().filter(kind="openai"):
        try:
            listed = openai_client_for(credential, max_retries=1).models.list()
            stored += shutdown_dates_store([model.model_dump() for model in listed])
        except (openai.OpenAIError, ValueError):
            continue
    return stored
