"""What the playground's page sends, checked before any model is asked: the conversation and the chat
settings, each refused with a message that says what to change."""

from __future__ import annotations

import math
from typing import Any

from finetune_portal.providers.chat import ChatSettings

MAX_STOP_SEQUENCES = 4
MAX_MESSAGES = 200
MAX_CONVERSATION_CHARS = 200_000
MAX_SYSTEM_PROMPT_CHARS = 20_000
MAX_TOKENS_LIMIT = 32_768
MAX_COLUMNS = 4
ROLES = ("system", "user", "assistant")


class PlaygroundInputError(ValueError):
    """Input a person can fix; the message says how."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _number(data: dict, field: str, label: str, low: float, high: float, *, integer: bool = False) -> Any:
    raw = data.get(field)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise PlaygroundInputError(f"{label} must be a number.", field=field)
    try:
        value: float | int = int(str(raw).strip()) if integer else float(raw)
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise PlaygroundInputError(f"{label} must be {kind}, not {str(raw)[:40]!r}.", field=field) from None
    if not integer and not math.isfinite(value):
        raise PlaygroundInputError(f"{label} must be a finite number.", field=field)
    if not low <= value <= high:
        raise PlaygroundInputError(
            f"{label} must be between {low:g} and {high:g}; it was {value:g}.", field=field
        )
    return value


def chat_settings_from(data: Any) -> ChatSettings:
    """The settings the page sent (a dict of strings or numbers; blanks mean the engine's default)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PlaygroundInputError("Settings must be an object of named values.")
    system_prompt = data.get("system_prompt") or ""
    if not isinstance(system_prompt, str):
        raise PlaygroundInputError("The system prompt must be text.", field="system_prompt")
    if len(system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
        raise PlaygroundInputError(
            f"The system prompt is too long: at most {MAX_SYSTEM_PROMPT_CHARS:,} characters.",
            field="system_prompt",
        )
    stop_raw = data.get("stop") or []
    if isinstance(stop_raw, str):
        stop_raw = [stop_raw]
    if not isinstance(stop_raw, list) or not all(isinstance(s, str) for s in stop_raw):
        raise PlaygroundInputError("Stop sequences must be a list of texts.", field="stop")
    stop = tuple(s for s in stop_raw if s)
    if len(stop) > MAX_STOP_SEQUENCES:
        raise PlaygroundInputError(
            f"At most {MAX_STOP_SEQUENCES} stop sequences; {len(stop)} were given.", field="stop"
        )
    if any(len(s) > 100 for s in stop):
        raise PlaygroundInputError("A stop sequence may be at most 100 characters.", field="stop")
    return ChatSettings(
        system_prompt=system_prompt,
        temperature=_number(data, "temperature", "Temperature", 0, 2),
        top_p=_number(data, "top_p", "Top p", 0, 1),
        max_tokens=_number(data, "max_tokens", "Maximum tokens", 1, MAX_TOKENS_LIMIT, integer=True),
        stop=stop,
        seed=_number(data, "seed", "Seed", -(2**63), 2**63 - 1, integer=True),
        presence_penalty=_number(data, "presence_penalty", "Presence penalty", -2, 2),
        frequency_penalty=_number(data, "frequency_penalty", "Frequency penalty", -2, 2),
    )


def conversation_from(data: Any) -> list[dict]:
    """The chat messages the page sent: roles system/user/assistant, text content, a user turn last."""
    if not isinstance(data, list) or not data:
        raise PlaygroundInputError("Write a message first.", field="messages")
    if len(data) > MAX_MESSAGES:
        raise PlaygroundInputError(
            f"The conversation is too long: at most {MAX_MESSAGES} messages.", field="messages"
        )
    messages: list[dict] = []
    total = 0
    for index, message in enumerate(data, start=1):
        if not isinstance(message, dict):
            raise PlaygroundInputError(f"Message {index} is not a chat message.", field="messages")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise PlaygroundInputError(
                f"Message {index} has the role {str(role)[:20]!r}; use system, user or assistant.",
                field="messages",
            )
        if not isinstance(content, str):
            raise PlaygroundInputError(f"Message {index} must have text content.", field="messages")
        total += len(content)
        messages.append({"role": role, "content": content})
    if total > MAX_CONVERSATION_CHARS:
        raise PlaygroundInputError(
            f"The conversation is too long: at most {MAX_CONVERSATION_CHARS:,} characters.", field="messages"
        )
    if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise PlaygroundInputError("The conversation must end with a message from you.", field="messages")
    return messages


def settings_json(settings: ChatSettings) -> dict:
    """Settings as stored with a probe: only what differs from the engine's default."""
    values: dict[str, Any] = {}
    for field in (
        "system_prompt",
        "temperature",
        "top_p",
        "max_tokens",
        "seed",
        "presence_penalty",
        "frequency_penalty",
    ):
        value = getattr(settings, field)
        if value not in (None, ""):
            values[field] = value
    if settings.stop:
        values["stop"] = list(settings.stop)
    return values
