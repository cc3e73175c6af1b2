"""Checks shared by every kind whose examples hold chat messages (chat, vision, RFT, DPO input)."""

from __future__ import annotations

import base64
import binascii
import difflib

import orjson

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
MAX_FUNCTIONS = 128
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
        has_call = _check_tool_calls(message, at, role, errors, sink)
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


def _check_tool_calls(message, at, role, errors, sink) -> bool:
    calls = message.get("tool_calls")
    function_call = message.get("function_call")
    if calls is None and function_call is None:
        return False
    if role != "assistant":
        errors.append(f"{at} ({role}): only assistant messages may call tools.")
        return False
    if function_call is not None:
        if not isinstance(function_call, dict) or not isinstance(function_call.get("name"), str):
            errors.append(f'{at} (assistant): "function_call" needs a "name".')
        else:
            _check_arguments(function_call.get("arguments"), f'{at} (assistant): "function_call"', errors)
        sink.append(orjson.dumps(function_call).decode())
    if calls is not None:
        if not isinstance(calls, list) or not calls:
            errors.append(f'{at} (assistant): "tool_calls" must be a non-empty list.')
            return False
        for call_index, call in enumerate(calls):
            call_at = f"{at}.tool_calls[{call_index}]"
            if not isinstance(call, dict):
                errors.append(f'{call_at} must be an object with "id", "type" and "function".')
                continue
            if not isinstance(call.get("id"), str) or not call["id"]:
                errors.append(
                    f'{call_at}: needs an "id" (a string the tool message\'s "tool_call_id" names).'
                )
            if call.get("type") != "function":
                errors.append(f'{call_at}: "type" must be "function".')
            function = call.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                errors.append(f'{call_at}: needs "function" with a "name".')
                continue
            _check_arguments(function.get("arguments"), call_at, errors)
        sink.append(orjson.dumps(calls).decode())
    return True


def _check_arguments(arguments, at: str, errors: list[str]) -> None:
    if not isinstance(arguments, str):
        errors.append(f'{at}: "arguments" must be a JSON string.')
        return
    try:
        orjson.loads(arguments)
    except orjson.JSONDecodeError:
        errors.append(f'{at}: "arguments" is not valid JSON.')


def check_tools(example: dict, errors: list[str], texts: list[str]) -> None:
    """The example's tool definitions ("tools", or the deprecated "functions") and "parallel_tool_calls"."""
    tools = example.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            errors.append('"tools" must be a list of tool definitions.')
        else:
            for index, tool in enumerate(tools):
                if not isinstance(tool, dict) or tool.get("type") != "function":
                    errors.append(
                        f'tools[{index}] must be {{"type": "function", "function": {{"name": ...}}}}.'
                    )
                else:
                    _check_function(tool.get("function"), f"tools[{index}].function", errors)
            texts.append(orjson.dumps(tools).decode())
    functions = example.get("functions")
    if functions is not None:
        if not isinstance(functions, list) or not 1 <= len(functions) <= MAX_FUNCTIONS:
            errors.append(f'"functions" must be a list of 1 to {MAX_FUNCTIONS} function definitions.')
        else:
            for index, function in enumerate(functions):
                _check_function(function, f"functions[{index}]", errors)
    parallel = example.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        errors.append('"parallel_tool_calls" must be true or false.')


def _check_function(function, at: str, errors: list[str]) -> None:
    """A function definition: a name, and parameters (a JSON Schema object) and description when given."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        errors.append(f'{at} must be an object with a string "name".')
        return
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        errors.append(f'{at}: "parameters" must be a JSON Schema object, not {json_type(parameters)}.')
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(f'{at}: "description" must be a string, not {json_type(description)}.')


def did_you_mean(unknown, known, present=()) -> str:
    """ " Did you mean 'x'?" for unknown keys close to a known key the object lacks, else ""."""
    suggestions = []
    for key in sorted(unknown):
        match = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
        if match and match[0] not in present and match[0] not in suggestions:
            suggestions.append(match[0])
    return f" Did you mean {' or '.join(map(repr, suggestions))}?" if suggestions else ""


def json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages (never a Python type name)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def short_label(answer: str | None) -> str | None:
    """The answer as a class label when it is short enough to be one, else None."""
    if answer is None:
        return None
    label = answer.strip()
    if len(label) > LABEL_MAX_CHARS or "\n" in label:
        return None
    return label
