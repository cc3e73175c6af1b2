"""The per-project inference rate limit: chats cost money at OpenAI and GPU time at home, so every view
that starts an answer (the playground, /v1) asks this first.

Counted with django-ratelimit in the default cache. That cache must increment atomically and be shared
by every web process for the limit to hold across them (Redis via CACHE_URL in production); the
local-memory default counts per process, which is what a single development server needs.
"""

from __future__ import annotations

from django.conf import settings
from django_ratelimit.core import is_ratelimited

GROUP = "inference"
DEFAULT_RATE = "60/m"


def inference_rate() -> str:
    """Answers allowed per project, in django-ratelimit's notation ("60/m", "1000/h")."""
    return getattr(settings, "INFERENCE_RATE_LIMIT", DEFAULT_RATE) or DEFAULT_RATE


def inference_allowed(request, project) -> bool:
    """Count one answer for the project; False once the project is past its rate."""
    limited = is_ratelimited(
        request,
        group=GROUP,
        key=lambda group, request: str(project.pk),
        rate=inference_rate(),
        increment=True,
    )
    return not limited
