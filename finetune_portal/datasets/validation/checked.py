"""What checking one example yields (``Checked``), and the first check every kind makes."""

from __future__ import annotations

from finetune_portal.datasets.validation.wording import json_type


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


def require_object(example, checked: Checked) -> bool:
    if isinstance(example, dict):
        return True
    checked.errors.append(f"Each line must be a JSON object, not {json_type(example)}.")
    return False
