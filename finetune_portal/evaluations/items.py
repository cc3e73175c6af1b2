"""Reading a dataset version as evaluation items: what each model is asked, and the reference answer."""

from __future__ import annotations

import orjson

from finetune_portal.datasets.models import DatasetKind, DatasetVersion, VersionStatus
from finetune_portal.datasets.versions import example_lines, local_copy

# A CSV version is mapped into chat examples when it is imported, so it reads as a chat version.
EVALUABLE_KINDS = (DatasetKind.CHAT, DatasetKind.COMPLETION, DatasetKind.ALPACA)
MAX_ITEMS = 5000


def evaluable_versions(project):
    """The project's valid, unarchived versions of a kind an evaluation (or a capture) reads."""
    return (
        DatasetVersion.objects.filter(
            dataset__project=project,
            dataset__kind__in=EVALUABLE_KINDS,
            status=VersionStatus.VALID,
            archived_at__isnull=True,
        )
        .select_related("dataset")
        .order_by("dataset__name", "-number")
    )


class EvaluationInputError(Exception):
    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _item(kind: str, example: dict) -> tuple[list[dict], str] | None:
    if kind == DatasetKind.CHAT:
        messages = example.get("messages")
        if not isinstance(messages, list):
            return None
        for last in range(len(messages) - 1, -1, -1):
            message = messages[last]
            if isinstance(message, dict) and message.get("role") == "assistant":
                asked = [{"role": m.get("role"), "content": _text(m.get("content"))} for m in messages[:last]]
                return (asked, _text(message.get("content"))) if asked else None
        return None
    if kind == DatasetKind.COMPLETION:
        prompt, completion = example.get("prompt"), example.get("completion")
        if isinstance(prompt, str) and isinstance(completion, str):
            return [{"role": "user", "content": prompt}], completion.strip()
        return None
    instruction, extra, output = example.get("instruction"), example.get("input", ""), example.get("output")
    if isinstance(instruction, str) and isinstance(output, str):
        text = f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction
        return [{"role": "user", "content": text}], output
    return None


def version_items(version: DatasetVersion) -> list[tuple[int, list[dict], str]]:
    """Every example of the version as (its place in the file from 0, messages asked, reference); an
    example with no reference is skipped (it cannot be scored)."""
    kind = version.dataset.kind
    if kind not in EVALUABLE_KINDS:
        raise EvaluationInputError(
            f"{version} is a {version.dataset.get_kind_display()} dataset; evaluations read chat, "
            "prompt/completion and Alpaca versions.",
            field="version",
        )
    if version.status != VersionStatus.VALID:
        raise EvaluationInputError(f"{version} is not a valid version yet.", field="version")
    items: list[tuple[int, list[dict], str]] = []
    with local_copy(version) as path:
        for place, line in enumerate(example_lines(path)):
            try:
                example = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            item = _item(kind, example) if isinstance(example, dict) else None
            if item is not None:
                items.append((place, *item))
            if len(items) > MAX_ITEMS:
                raise EvaluationInputError(
                    f"{version} has more than {MAX_ITEMS} examples; evaluate a smaller version.",
                    field="version",
                )
    if not items:
        raise EvaluationInputError(f"{version} has no example with a reference answer.", field="version")
    return items


def with_fixed_reference(version: DatasetVersion, place: int, reference: str) -> bytes:
    """The version's lines with the reference of the example at ``place`` replaced."""
    kind = version.dataset.kind
    lines = []
    with local_copy(version) as path:
        for index, line in enumerate(example_lines(path)):
            if index == place:
                example = orjson.loads(line)
                if kind == DatasetKind.CHAT:
                    messages = example["messages"]
                    last = max(i for i, m in enumerate(messages) if m.get("role") == "assistant")
                    messages[last] = {**messages[last], "content": reference}
                elif kind == DatasetKind.COMPLETION:
                    example["completion"] = " " + reference.lstrip()
                else:
                    example["output"] = reference
                line = orjson.dumps(example)
            lines.append(line)
    return b"\n".join(lines) + b"\n"
