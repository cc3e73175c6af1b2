"""What one example of each dataset kind must look like, and what it contributes to the statistics.

Each checker takes a parsed JSON line and returns a ``Checked``: the errors on that line, the texts whose
tokens count (``answers`` are the assistant's, counted separately), fixed token overhead, and the facts
the statistics and warnings need.
"""

from __future__ import annotations

from finetune_portal.datasets.validation.messages import (
    MAX_IMAGES_PER_EXAMPLE,
    TOKENS_PER_CONVERSATION,
    TOKENS_PER_MESSAGE,
    check_messages,
    plain_conversation,
    short_label,
)
from finetune_portal.datasets.validation.tools import check_tools
from finetune_portal.datasets.validation.wording import did_you_mean, json_type

CHAT_TOP_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
RFT_ROLES = frozenset({"developer", "system", "user", "assistant", "tool"})
DPO_INPUT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
KIND_LABELS = {
    "chat": "chat",
    "vision": "vision chat",
    "rft": "RFT",
    "completion": "prompt/completion",
    "alpaca": "Alpaca",
    "dpo": "DPO",
    "text": "plain text",
}


class Checked:
    __slots__ = ("answers", "errors", "fixed", "flags", "images", "label", "messages", "system", "texts")

    def __init__(self):
        self.errors: list[str] = []
        self.texts: list[str] = []
        self.answers: list[str] = []
        self.fixed = 0
        self.messages: int | None = None
        self.system = False
        self.label: str | None = None
        self.images = 0
        self.flags: tuple[str, ...] = ()


def shape_of(example) -> str | None:
    """The family of kinds a line's keys belong to, to catch a line of another kind in a file."""
    if not isinstance(example, dict):
        return None
    if "messages" in example:
        return "messages"
    if "preferred_output" in example or "non_preferred_output" in example:
        return "dpo"
    if "instruction" in example or "output" in example:
        return "alpaca"
    if "prompt" in example or "completion" in example:
        return "completion"
    if "text" in example:
        return "text"
    return None


FAMILY = {
    "chat": "messages",
    "vision": "messages",
    "rft": "messages",
    "completion": "completion",
    "alpaca": "alpaca",
    "dpo": "dpo",
    "text": "text",
}
_FAMILY_LABEL = {
    "messages": "chat (messages)",
    "completion": "prompt/completion",
    "alpaca": "Alpaca",
    "dpo": "DPO",
    "text": "plain text",
}


def kind_mismatch(example, kind: str) -> str | None:
    shape = shape_of(example)
    if shape is None or shape == FAMILY[kind]:
        return None
    return (
        f"This line is a {_FAMILY_LABEL[shape]} example, but the file is {KIND_LABELS[kind]}; "
        "a file holds one kind of example."
    )


def _require_object(example, checked: Checked) -> bool:
    if isinstance(example, dict):
        return True
    checked.errors.append(f"Each line must be a JSON object, not {json_type(example)}.")
    return False


def _conversation(example, checked: Checked, *, roles, allow_images: bool, top_keys=None):
    """Check an example's "messages" (and tools); record their count and fixed tokens on ``checked``.

    ``top_keys``: the only keys the example may have (None: any). Returns the tally, or None when the
    example is not an object with "messages" (already reported).
    """
    if not _require_object(example, checked):
        return None
    if "messages" not in example:
        checked.errors.append('Missing "messages".')
        return None
    unknown = example.keys() - top_keys if top_keys is not None else ()
    if unknown:
        checked.errors.append(
            f"Unexpected key(s) {', '.join(sorted(unknown))} (reference fields for a grader belong in an RFT "
            f"dataset).{did_you_mean(unknown, top_keys, example)}"
        )
    tally = check_messages(
        example["messages"],
        roles=roles,
        allow_images=allow_images,
        errors=checked.errors,
        texts=checked.texts,
        answer_texts=checked.answers,
    )
    check_tools(example, checked.errors, checked.texts)
    checked.messages = len(example["messages"]) if isinstance(example["messages"], list) else 0
    checked.fixed = tally.fixed + TOKENS_PER_CONVERSATION
    return tally


def _check_chat_like(example, *, allow_images: bool) -> Checked:
    checked = Checked()
    if type(example) is dict and len(example) == 1 and "messages" in example:
        plain = plain_conversation(example["messages"])
        if plain is not None:
            checked.texts, checked.answers, checked.system = plain
            checked.messages = len(example["messages"])
            checked.fixed = checked.messages * TOKENS_PER_MESSAGE + TOKENS_PER_CONVERSATION
            checked.label = short_label(checked.answers[-1])
            return checked
    tally = _conversation(
        example, checked, roles=CHAT_ROLES, allow_images=allow_images, top_keys=CHAT_TOP_KEYS
    )
    if tally is None:
        return checked
    if isinstance(example["messages"], list) and example["messages"]:
        if tally.assistants == 0:
            checked.errors.append("No assistant message: there is nothing for the model to learn from.")
        elif tally.assistant_to_learn == 0:
            checked.errors.append("Every assistant message has weight 0: there is nothing to learn from.")
    checked.system = tally.system
    checked.images = tally.images
    checked.label = short_label(tally.last_answer)
    return checked


def check_chat(example) -> Checked:
    return _check_chat_like(example, allow_images=False)


def check_vision(example) -> Checked:
    checked = _check_chat_like(example, allow_images=True)
    if checked.images > MAX_IMAGES_PER_EXAMPLE:
        checked.errors.append(
            f"{checked.images} images; an example may hold at most {MAX_IMAGES_PER_EXAMPLE}."
        )
    return checked


def check_rft(example) -> Checked:
    checked = Checked()
    tally = _conversation(example, checked, roles=RFT_ROLES, allow_images=False)
    if tally is None:
        return checked
    if not example.keys() - {"messages", "tools", "parallel_tool_calls"}:
        checked.errors.append(
            'No reference fields for the grader: add keys besides "messages" (e.g. "answer"); '
            "graders read them as item.*."
        )
    flags = []
    if tally.last_role not in (None, "user"):
        flags.append("rft_last_not_user")
    if tally.system:
        flags.append("rft_system_role")
    checked.flags = tuple(flags)
    checked.system = True  # RFT prompts use the developer role; a missing system message is not news.
    return checked


def _string_field(example, key: str, checked: Checked, *, required: bool, non_empty: bool) -> str | None:
    if key not in example:
        if required:
            checked.errors.append(f'Missing "{key}".')
        return None
    value = example[key]
    if not isinstance(value, str):
        checked.errors.append(f'"{key}" must be a string, not {json_type(value)}.')
        return None
    if non_empty and not value.strip():
        checked.errors.append(f'"{key}" is empty.')
    return value


def _reject_unknown(example: dict, allowed: frozenset[str], checked: Checked) -> None:
    unknown = example.keys() - allowed
    if unknown:
        hint = did_you_mean(unknown, allowed, example)
        checked.errors.append(f"Unexpected key(s): {', '.join(sorted(unknown))}.{hint}")


_COMPLETION_KEYS = frozenset({"prompt", "completion"})
_ALPACA_KEYS = frozenset({"instruction", "input", "output", "system"})
_DPO_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
_TEXT_KEYS = frozenset({"text"})


def check_completion(example) -> Checked:
    checked = Checked()
    if not _require_object(example, checked):
        return checked
    _reject_unknown(example, _COMPLETION_KEYS, checked)
    prompt = _string_field(example, "prompt", checked, required=True, non_empty=False)
    completion = _string_field(example, "completion", checked, required=True, non_empty=True)
    if prompt is not None:
        checked.texts.append(prompt)
    if completion is not None:
        checked.answers.append(completion)
    checked.label = short_label(completion)
    checked.system = True  # prompt/completion data has no system message to miss
    return checked


def check_alpaca(example) -> Checked:
    checked = Checked()
    if not _require_object(example, checked):
        return checked
    _reject_unknown(example, _ALPACA_KEYS, checked)
    for key, required in (("system", False), ("instruction", True), ("input", False)):
        value = _string_field(example, key, checked, required=required, non_empty=key == "instruction")
        if value:
            checked.texts.append(value)
    output = _string_field(example, "output", checked, required=True, non_empty=True)
    if output is not None:
        checked.answers.append(output)
    checked.system = "system" in example
    checked.messages = 3 if checked.system else 2
    # Counted as the chat example it converts to: user turn, assistant turn, conversation framing.
    checked.fixed = checked.messages * TOKENS_PER_MESSAGE + TOKENS_PER_CONVERSATION
    checked.label = short_label(output)
    return checked


def check_dpo(example) -> Checked:
    checked = Checked()
    if not _require_object(example, checked):
        return checked
    _reject_unknown(example, _DPO_KEYS, checked)
    prompt = example.get("input")
    messages = 0
    if not isinstance(prompt, dict) or "messages" not in prompt:
        checked.errors.append('"input" must be an object with "messages".')
    else:
        tally = check_messages(
            prompt["messages"],
            roles=DPO_INPUT_ROLES,
            allow_images=False,
            errors=checked.errors,
            texts=checked.texts,
            answer_texts=checked.texts,
            where="input.messages",
        )
        check_tools(prompt, checked.errors, checked.texts)
        checked.system = tally.system
        checked.fixed += tally.fixed + TOKENS_PER_CONVERSATION
        messages = len(prompt["messages"]) if isinstance(prompt["messages"], list) else 0
    for key in ("preferred_output", "non_preferred_output"):
        output = example.get(key)
        if not isinstance(output, list) or len(output) != 1:
            checked.errors.append(f'"{key}" must be a list holding exactly one assistant message.')
            continue
        message = output[0]
        if not isinstance(message, dict) or message.get("role") != "assistant":
            checked.errors.append(f'"{key}[0]" must be an assistant message.')
            continue
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            checked.errors.append(f'"{key}[0]" needs text content (DPO outputs are text only).')
            continue
        checked.answers.append(content)
        checked.fixed += TOKENS_PER_MESSAGE
    checked.messages = messages + 1
    return checked


def check_text(example) -> Checked:
    """A plain ``{"text": ...}`` line: causal-LM training learns every token of it."""
    checked = Checked()
    if not _require_object(example, checked):
        return checked
    _reject_unknown(example, _TEXT_KEYS, checked)
    text = _string_field(example, "text", checked, required=True, non_empty=True)
    if text is not None:
        checked.texts.append(text)
    checked.system = True  # plain text has no system message to miss
    return checked


CHECKERS = {
    "chat": check_chat,
    "vision": check_vision,
    "rft": check_rft,
    "completion": check_completion,
    "alpaca": check_alpaca,
    "dpo": check_dpo,
    "text": check_text,
}
KINDS = tuple(CHECKERS)
