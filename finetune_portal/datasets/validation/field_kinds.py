"""The kinds whose example is a few named fields: prompt/completion, Alpaca, DPO and plain text."""

from __future__ import annotations

from finetune_portal.datasets.validation.checked import Checked, require_object
from finetune_portal.datasets.validation.messages import (
    TOKENS_PER_CONVERSATION,
    TOKENS_PER_MESSAGE,
    check_messages,
    short_label,
)
from finetune_portal.datasets.validation.tools import check_tools
from finetune_portal.datasets.validation.wording import did_you_mean, json_type

DPO_INPUT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


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
    if not require_object(example, checked):
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
    if not require_object(example, checked):
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
    if not require_object(example, checked):
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
    if not require_object(example, checked):
        return checked
    _reject_unknown(example, _TEXT_KEYS, checked)
    text = _string_field(example, "text", checked, required=True, non_empty=True)
    if text is not None:
        checked.texts.append(text)
    checked.system = True  # plain text has no system message to miss
    return checked
