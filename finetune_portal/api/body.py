"""Reading a /v1 request's JSON body, bounded in size."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from finetune_portal.api.errors import ApiError, invalid

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


def max_body_bytes() -> int:
    return int(getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The request body is larger than this portal accepts ({limit:,} bytes; API_MAX_BODY_BYTES).",
        code="request_too_large",
    )


def json_body(request) -> dict[str, Any]:
    """The body as a JSON object. Read in bounded pieces rather than through request.body, so a huge
    or endless (chunked) body is refused after the limit without being held whole in memory."""
    limit = max_body_bytes()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    data = request.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data.strip():
        raise invalid("The request has no body: send a JSON object (Content-Type: application/json).")
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(parsed, dict):
        raise invalid("The body must be a JSON object.")
    return parsed
