"""What one example of each dataset kind must look like, and what it contributes to the statistics.

Each checker takes a parsed JSON line and returns a ``Checked``: the errors on that line, the texts whose
tokens count (``answers`` are the assistant's, counted separately), fixed token overhead, and the facts
the statistics and warnings need. The checkers live in ``chat_kinds`` (chat, vision, RFT) and
``field_kinds`` (prompt/completion, Alpaca, DPO, text); this module names the kinds and tells them apart.
"""

from __future__ import annotations

from finetune_portal.datasets.validation.chat_kinds import check_chat, check_rft, check_vision
from finetune_portal.datasets.validation.field_kinds import (
    check_alpaca,
    check_completion,
    check_dpo,
    check_text,
)

KIND_LABELS = {
    "chat": "chat",
    "vision": "vision chat",
    "rft": "RFT",
    "completion": "prompt/completion",
    "alpaca": "Alpaca",
    "dpo": "DPO",
    "text": "plain text",
}


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
