"""Checks shared by every kind whose examples hold chat messages (chat, vision, RFT, DPO input)."""

from __future__ import annotations

import base64
import binascii

from finetune_portal.datasets.validation.tools import check_tool_calls
from finetune_portal.datasets.validation.wording import did_you_mean, json_type

MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
)
IMAGE_DATA_PREFIXES = (
    "data:image/jpeg;base64,",
    "data:image/jpg;base64,",
    "data:image/png;base64,",
    "data:image/webp;base64,",
)
IMAGE_DETAILS = frozenset({"low", "high", "auto"})
MAX_IMAGES_PER_EXAMPLE = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# OpenAI's documented cost of one image at detail "low"; higher detail costs more, so this is a floor.
TOKENS_PER_IMAGE = 85
# The cookbook's count: every message costs 3 tokens of framing plus its role (one token for these roles).
TOKENS_PER_MESSAGE = 4
TOKENS_PER_CONVERSATION = 3
LABEL_MAX_CHARS = 40
# Roles whose messages need nothing beyond a role and content (tool needs tool_call_id, function a name).
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})


class MessageTally:
    """What one example's messages contribute to the example's checks and measurements."""

    __slots__ = ("assistant_to_learn", "assistants", "fixed", "images", "last_answer", "last_role", "system")

    def __init__(self):
        self.assistants = 0
        self.assistant_to_learn = 0
        self.system = False
        self.images = 0
        self.fixed = 0
        self.last_answer: str | None = None
        self.last_role: str | None = None


def check_messages(
    messages,
    *,
    roles: frozenset[str],
    allow_images: bool,
    errors: list[str],
    texts: list[str],
    answer_texts: list[str],
    where: str = "messages",
) -> MessageTally:
    tally = MessageTally()
    if not isinstance(messages, list):
        errors.append(f'"{where}" must be a list of messages.')
        return tally
    if not messages:
        errors.append(f'"{where}" is empty.')
        return tally
    for index, message in enumerate(messages):
        # Fast path for the plain message that makes up most datasets: only a role and non-empty text.
        if type(message) is dict and len(message) == 2:
            role = message.get("role")
            content = message.get("content")
            if (
                type(content) is str
                and content
                and type(role) is str
                and role in _PLAIN_ROLES
                and role in roles
            ):
                tally.fixed += TOKENS_PER_MESSAGE
                tally.last_role = role
                if role == "assistant":
                    answer_texts.append(content)
                    tally.assistants += 1
                    tally.assistant_to_learn += 1
                    tally.last_answer = content
                else:
                    texts.append(content)
                    if role == "system":
                        tally.system = True
                continue
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            errors.append(f"{at} must be an object with a role and content.")
            continue
        role = message.get("role")
        if type(role) is not str or role not in roles:
            allowed = ", ".join(sorted(roles))
            if role is None:
                errors.append(f'{at} has no "role"; allowed roles are {allowed}.')
            elif type(role) is not str:
                errors.append(
                    f'{at}: "role" must be a string, not {json_type(role)}; allowed roles are {allowed}.'
                )
            else:
                errors.append(f"{at} has role {role!r}; allowed roles are {allowed}.")
            continue
        unknown = message.keys() - MESSAGE_KEYS
        if unknown:
            hint = did_you_mean(unknown, MESSAGE_KEYS, message)
            errors.append(f"{at} ({role}) has unexpected key(s): {', '.join(sorted(unknown))}.{hint}")
        tally.fixed += TOKENS_PER_MESSAGE
        tally.last_role = role
        is_assistant = role == "assistant"
        sink = answer_texts if is_assistant else texts
        if role == "system":
            tally.system = True
        name = message.get("name")
        if name is not None:
            if isinstance(name, str):
                texts.append(name)
                tally.fixed += 1
            else:
                errors.append(f"{at} ({role}): name must be a string.")
        has_call = check_tool_calls(message, at, role, errors, sink)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            errors.append(f'{at} (tool) needs a "tool_call_id" naming the call it answers.')
        if role == "function" and not isinstance(name, str):
            errors.append(f'{at} (function) needs a "name".')
        refusal = message.get("refusal")
        if refusal is not None and not isinstance(refusal, str):
            errors.append(f'{at} ({role}): "refusal" must be a string, not {json_type(refusal)}.')
        _check_content(
            message.get("content", _MISSING), at, role, has_call, allow_images, errors, sink, tally
        )
        if "weight" in message:
            weight = message["weight"]
            if not is_assistant:
                errors.append(f'{at} ({role}): "weight" is only allowed on assistant messages.')
            elif type(weight) is not int or weight not in (0, 1):
                shown = weight if type(weight) is int else json_type(weight)
                errors.append(f'{at} (assistant): "weight" must be 0 or 1, not {shown}.')
        if is_assistant:
            tally.assistants += 1
            if message.get("weight", 1) != 0:
                tally.assistant_to_learn += 1
            content = message.get("content")
            tally.last_answer = content if isinstance(content, str) else None
    return tally


def plain_conversation(messages) -> tuple[list[str], list[str], bool] | None:
    """The texts, the assistant's answers and whether a system message is present, for the conversation
    most datasets are made of: every message holds only a role (system, user or assistant) and non-empty
    text, and at least one is the assistant's. None for any other, which ``check_messages`` takes; for
    these, both find the same and no error."""
    if type(messages) is not list:
        return None
    texts: list[str] = []
    answers: list[str] = []
    system = False
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return None
        content = message.get("content")
        if type(content) is not str or not content:
            return None
        role = message.get("role")
        if role == "assistant":
            answers.append(content)
        elif role == "user":
            texts.append(content)
        elif role == "system":
            texts.append(content)
            system = True
        else:
            return None
    return (texts, answers, system) if answers else None


_MISSING = object()


def _check_content(content, at, role, has_call, allow_images, errors, sink, tally) -> None:
    if isinstance(content, str):
        if not content and not has_call:
            errors.append(f"{at} ({role}) has empty content.")
        sink.append(content)
        return
    if content is _MISSING or content is None:
        if role == "assistant" and has_call:
            return
        errors.append(f'{at} ({role}) has no "content".')
        return
    if not isinstance(content, list):
        errors.append(f"{at} ({role}): content must be a string or a list of content parts.")
        return
    if not content:
        errors.append(f"{at} ({role}) has an empty content list; give at least one content part.")
        return
    for part_index, part in enumerate(content):
        part_at = f"{at}.content[{part_index}]"
        if not isinstance(part, dict):
            errors.append(f'{part_at} must be an object with a "type", not {json_type(part)}.')
            continue
        kind = part.get("type")
        if kind is None:
            errors.append(f'{part_at} needs a "type" ("text" or "image_url").')
        elif type(kind) is not str:
            errors.append(f'{part_at}: "type" must be a string, not {json_type(kind)}.')
        elif kind == "text":
            text = part.get("text")
            if isinstance(text, str):
                sink.append(text)
            else:
                errors.append(f'{part_at}: a text part needs a string "text".')
        elif kind == "image_url":
            if not allow_images:
                errors.append(f"{part_at}: image content belongs in a vision dataset, not this one.")
            elif role != "user":
                errors.append(f"{part_at}: images are only allowed in user messages, not {role}.")
            else:
                tally.images += 1
                tally.fixed += TOKENS_PER_IMAGE
                _check_image(part.get("image_url"), part_at, errors)
        else:
            errors.append(f"{part_at}: content type {kind!r} is not supported (text and images only).")


def _check_image(image, at, errors) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("url"), str):
        errors.append(f'{at}: "image_url" must be an object with a "url".')
        return
    url = image["url"]
    detail = image.get("detail")
    if detail is not None and (type(detail) is not str or detail not in IMAGE_DETAILS):
        shown = repr(detail) if type(detail) is str else json_type(detail)
        errors.append(f'{at}: detail must be "low", "high" or "auto", not {shown}.')
    if url.startswith("https://"):
        return
    prefix = next((p for p in IMAGE_DATA_PREFIXES if url.startswith(p)), None)
    if prefix is None:
        if url.startswith("data:"):
            errors.append(f"{at}: images must be JPEG, PNG or WEBP data URLs ({url[:30]}...).")
        else:
            errors.append(f"{at}: an image URL must be https:// or a base64 data:image/... URL.")
        return
    payload = url[len(prefix) :]
    if len(payload) * 3 // 4 > MAX_IMAGE_BYTES:
        errors.append(f"{at}: the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
        return
    try:
        base64.b64decode(payload[:4096].ljust(4 * ((min(len(payload), 4096) + 3) // 4), "="), validate=True)
    except (binascii.Error, ValueError):
        errors.append(f"{at}: the image data is not valid base64.")


def short_label(answer: str | None) -> str | None:
    """The answer as a class label when it is short enough to be one, else None."""
    if answer is None:
        return None
    label = answer.strip()
    if len(label) > LABEL_MAX_CHARS or "\n" in label:
        return None
    return label
