"""A chat completion request, validated the way OpenAI validates it, into what the inference core takes.

Fields fall in four groups (together exactly the properties of OpenAI's CreateChatCompletionRequest;
a test keeps them in step with the vendored OpenAPI description):

- used: model, messages, the sampling settings, stream, stream_options;
- accepted and ignored, because they do not change the answer (user, metadata, store, ...);
- refused with a 400 when set to anything but their neutral value, because silently ignoring them would
  return something else than asked for (n > 1, tools, JSON mode, log probabilities, audio, ...);
- anything else is refused as OpenAI refuses it ("Unrecognized request argument supplied").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finetune_portal.api.errors import invalid
from finetune_portal.providers.chat import ChatSettings

USED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "stream",
        "stream_options",
    }
)
IGNORED = frozenset(
    {
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "parallel_tool_calls",
        "reasoning_effort",
        "verbosity",
        "moderation",
    }
)
# Each with the values that mean "not used", which are accepted.
REFUSED: dict[str, tuple[Any, ...]] = {
    "tools": (None, []),
    "functions": (None, []),
    "tool_choice": (None, "none", "auto"),
    "function_call": (None, "none", "auto"),
    "response_format": (None, {"type": "text"}),
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None, {}),
    "modalities": (None, ["text"]),
    "audio": (None,),
    "prediction": (None,),
    "web_search_options": (None,),
}
KNOWN = USED | IGNORED | frozenset(REFUSED)

ROLES = ("system", "developer", "user", "assistant")
TOOL_ROLES = ("tool", "function")
MAX_STOP = 4


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict]
    settings: ChatSettings
    stream: bool
    include_usage: bool


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"'{name}' must be a number, not {value!r}.", param=name, code="invalid_type")
    if not low <= value <= high:
        raise invalid(
            f"'{name}' must be between {low:g} and {high:g}; got {value!r}.", param=name, code="invalid_value"
        )
    return float(value)


def _integer(body: dict, name: str, *, minimum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"'{name}' must be an integer, not {value!r}.", param=name, code="invalid_type")
    if minimum is not None and value < minimum:
        raise invalid(f"'{name}' must be at least {minimum}; got {value}.", param=name, code="invalid_value")
    return value


def _text_of(content: Any, param: str) -> str:
    """A message's content as text: a string, or a list of text parts (joined by new lines)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for index, part in enumerate(content):
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise invalid(
                    f"Only text content parts are supported; {param}[{index}] is {kind!r}.",
                    param=f"{param}[{index}]",
                    code="invalid_value",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise invalid(f"'{param}' must be a string or a list of text parts.", param=param, code="invalid_type")


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise invalid(
            "'messages' must be a non-empty list of {role, content} objects.",
            param="messages",
            code="invalid_value",
        )
    cleaned = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise invalid(
                f"'{param}' must be an object with a role and content.", param=param, code="invalid_type"
            )
        role = message.get("role")
        if role in TOOL_ROLES or message.get("tool_calls") or message.get("function_call"):
            raise invalid(
                f"'{param}' is a tool call or a tool's answer: this endpoint does not call tools.",
                param=param,
                code="unsupported_value",
            )
        if role not in ROLES:
            raise invalid(
                f"'{param}.role' must be one of {', '.join(ROLES)}; got {role!r}.",
                param=f"{param}.role",
                code="invalid_value",
            )
        if "content" not in message or message["content"] is None:
            raise invalid(
                f"Missing required parameter: '{param}.content'.",
                param=f"{param}.content",
                code="missing_required_parameter",
            )
        cleaned.append({"role": role, "content": _text_of(message["content"], f"{param}.content")})
    return cleaned


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    values = [stop] if isinstance(stop, str) else stop
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise invalid(
            "'stop' must be a non-empty string or a list of them.", param="stop", code="invalid_type"
        )
    if not 1 <= len(values) <= MAX_STOP:
        raise invalid(
            f"'stop' takes at most {MAX_STOP} sequences; got {len(values)}.",
            param="stop",
            code="invalid_value",
        )
    return tuple(values)


def _refusals(body: dict) -> None:
    for name, neutral in REFUSED.items():
        if name in body and body[name] not in neutral:
            raise invalid(
                f"'{name}' is not supported by this portal's models; leave it out.",
                param=name,
                code="unsupported_parameter",
            )


def parse_chat_request(body: dict) -> ChatRequest:
    """The request, checked; a 400 ApiError naming the parameter at the first problem."""
    for name in body:
        if name not in KNOWN:
            raise invalid(
                f"Unrecognized request argument supplied: {name}", param=name, code="unknown_parameter"
            )
    model = body.get("model")
    if model is None:
        raise invalid(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model.strip():
        raise invalid(
            "'model' must be a model name (GET /v1/models lists them).", param="model", code="invalid_type"
        )
    messages = _messages(body)
    n = _integer(body, "n", minimum=1)
    if n not in (None, 1):
        raise invalid(
            "'n' must be 1: this portal returns one choice per request.", param="n", code="unsupported_value"
        )
    _refusals(body)
    max_tokens = _integer(body, "max_tokens", minimum=1)
    max_completion_tokens = _integer(body, "max_completion_tokens", minimum=1)
    if None not in (max_tokens, max_completion_tokens) and max_tokens != max_completion_tokens:
        raise invalid(
            "Give 'max_completion_tokens' or the older 'max_tokens', not both with different values.",
            param="max_tokens",
            code="invalid_value",
        )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("'stream' must be true or false.", param="stream", code="invalid_type")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            raise invalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
            raise invalid(
                "'stream_options' must be an object like {\"include_usage\": true}.",
                param="stream_options",
                code="invalid_type",
            )
        include_usage = options.get("include_usage", False)
    settings = ChatSettings(
        temperature=_number(body, "temperature", 0, 2),
        top_p=_number(body, "top_p", 0, 1),
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        stop=_stop(body),
        seed=_integer(body, "seed"),
        presence_penalty=_number(body, "presence_penalty", -2, 2),
        frequency_penalty=_number(body, "frequency_penalty", -2, 2),
    )
    return ChatRequest(
        model=model.strip(),
        messages=messages,
        settings=settings,
        stream=bool(stream),
        include_usage=include_usage,
    )
