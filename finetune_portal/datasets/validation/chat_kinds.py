"""The kinds whose example is a conversation: chat, vision chat and RFT (a prompt for a grader)."""

from __future__ import annotations

from finetune_portal.datasets.validation.checked import Checked, require_object
from finetune_portal.datasets.validation.messages import (
    MAX_IMAGES_PER_EXAMPLE,
    TOKENS_PER_CONVERSATION,
    TOKENS_PER_MESSAGE,
    check_messages,
    plain_conversation,
    short_label,
)
from finetune_portal.datasets.validation.tools import check_tools
from finetune_portal.datasets.validation.wording import did_you_mean

CHAT_TOP_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})
RFT_ROLES = frozenset({"developer", "system", "user", "assistant", "tool"})


def _conversation(example, checked: Checked, *, roles, allow_images: bool, top_keys=None):
    """Check an example's "messages" (and tools); record their count and fixed tokens on ``checked``.

    ``top_keys``: the only keys the example may have (None: any). Returns the tally, or None when the
    example is not an object with "messages" (already reported).
    """
    if not require_object(example, checked):
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
