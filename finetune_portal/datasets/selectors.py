from __future__ import annotations

import os
from dataclasses import dataclass, field

import orjson
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from finetune_portal.datasets.models import Dataset, DatasetVersion, VersionStatus

PREVIEW_PAGE_SIZE = 10
MIN_BAR_PERCENT = 6


def datasets_for_project(project, *, archived: bool = False) -> QuerySet[Dataset]:
    """The project's datasets in use, or only the archived ones."""
    return Dataset.objects.filter(project=project, archived_at__isnull=not archived).annotate(
        version_count=Count("versions", filter=Q(versions__archived_at__isnull=True))
    )


def versions_listed(dataset: Dataset, *, archived: bool = False) -> QuerySet[DatasetVersion]:
    """A dataset's versions in use (newest first), or only the archived ones."""
    return dataset.versions.filter(archived_at__isnull=not archived).select_related(
        "uploaded_by", "parent__dataset"
    )


def dataset_for_project(project, dataset_id: int) -> Dataset:
    return get_object_or_404(Dataset, pk=dataset_id, project=project)


def version_for_dataset(dataset: Dataset, number: int) -> DatasetVersion:
    return get_object_or_404(
        DatasetVersion.objects.select_related("dataset", "uploaded_by", "parent__dataset"),
        dataset=dataset,
        number=number,
    )


def versions_selectable_for_jobs(project) -> QuerySet[DatasetVersion]:
    """The versions a job may train on: valid ones, neither they nor their dataset archived."""
    return DatasetVersion.objects.filter(
        dataset__project=project,
        status=VersionStatus.VALID,
        archived_at__isnull=True,
        dataset__archived_at__isnull=True,
    ).select_related("dataset")


@dataclass
class PreviewExample:
    line: int
    data: object  # the parsed example, or None when the line is not JSON
    raw: str
    errors: list[str] = field(default_factory=list)  # the validation errors listed for this line

    @property
    def bubbles(self) -> list[tuple[str, str]]:
        """(role, text) pairs to show the example as a conversation; empty when it is not one."""
        data = self.data
        if not isinstance(data, dict):
            return []
        if isinstance(data.get("messages"), list):
            messages = data["messages"]
        elif isinstance(data.get("input"), dict) and isinstance(data["input"].get("messages"), list):
            messages = [*data["input"]["messages"]]
            for key in ("preferred_output", "non_preferred_output"):
                for message in data.get(key) or []:
                    if isinstance(message, dict):
                        label = "preferred" if key == "preferred_output" else "rejected"
                        messages.append({"role": f"assistant ({label})", "content": message.get("content")})
        elif "prompt" in data or "completion" in data:
            messages = [
                {"role": "user", "content": data.get("prompt")},
                {"role": "assistant", "content": data.get("completion")},
            ]
        elif isinstance(data.get("text"), str) and len(data) == 1:
            messages = [{"role": "text", "content": data["text"]}]
        elif "instruction" in data:
            prompt = data.get("instruction") or ""
            if data.get("input"):
                prompt = f"{prompt}\n\n{data['input']}"
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": data.get("output")},
            ]
        else:
            return []
        bubbles = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            bubbles.append((str(message.get("role", "?")), _content_text(message)))
        return bubbles


def _content_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image_url":
                parts.append("[image]")
        return "\n".join(parts)
    if message.get("tool_calls"):
        calls = message["tool_calls"]
        names = [c.get("function", {}).get("name", "?") for c in calls if isinstance(c, dict)]
        return "calls " + ", ".join(names)
    return "" if content is None else str(content)


@dataclass
class PreviewPage:
    examples: list[PreviewExample]
    page: int
    has_next: bool
    query: str

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def version_preview(
    version: DatasetVersion, *, page: int = 1, query: str = "", line: int | None = None
) -> PreviewPage:
    """One page of examples, optionally only those containing ``query``; reads the file as a stream.

    With ``line``, the page is the first one reaching that line (the one holding it, unless it is blank or
    past the end), whatever ``page`` says.
    """
    from finetune_portal.datasets.validation.lines import iter_lines
    from finetune_portal.datasets.versions import local_copy

    page = max(1, page)
    needle = query.strip().lower()
    skip = (page - 1) * PREVIEW_PAGE_SIZE
    examples: list[PreviewExample] = []
    has_next = False
    bad_lines = errors_by_line(version.validation_report or {})
    shown = 0  # examples that passed the search, on earlier pages or this one
    with local_copy(version) as path:
        line_no = 0
        for raw in iter_lines(path, 0, os.path.getsize(path)):
            line_no += 1
            if not isinstance(raw, bytes) or not raw.strip():
                continue
            text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").rstrip("\r")
            if needle and needle not in text.lower():
                continue
            if line is not None:
                if len(examples) == PREVIEW_PAGE_SIZE:
                    if examples[-1].line >= line:
                        has_next = True
                        break
                    examples.clear()  # the line is further on: this page is not the one
                if not examples:
                    page = shown // PREVIEW_PAGE_SIZE + 1
                shown += 1
            elif skip:
                skip -= 1
                continue
            elif len(examples) == PREVIEW_PAGE_SIZE:
                has_next = True
                break
            examples.append(
                PreviewExample(
                    line=line_no, data=_parsed(text), raw=text[:2000], errors=bad_lines.get(line_no, [])
                )
            )
    return PreviewPage(examples=examples, page=page, has_next=has_next, query=query.strip())


def errors_by_line(report: dict) -> dict[int, list[str]]:
    """The report's listed errors by line number, for marking bad lines in the preview."""
    by_line: dict[int, list[str]] = {}
    for error in report.get("errors") or []:
        if error.get("line"):
            by_line.setdefault(error["line"], []).append(error["message"])
    return by_line


def histogram_bars(report: dict) -> list[dict]:
    """The report's token-length bins, each with its height as a percent of the fullest bin, rounded up to
    a step of 5 (the page's CSS has a class per step: the Content-Security-Policy allows no inline style);
    a bin with any example is drawn at least a little taller than an empty one."""
    bins = (report.get("stats") or {}).get("token_histogram") or []
    fullest = max((b["count"] for b in bins), default=0)
    bars = []
    for b in bins:
        percent = max(MIN_BAR_PERCENT, -(-100 * b["count"] // fullest)) if b["count"] else 0
        bars.append(b | {"percent": percent, "height_step": -(-percent // 5) * 5})
    return bars


def _parsed(text: str):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def report_first_errors(report: dict, *, limit: int = 3) -> str:
    """The first errors of a validation report in one line ("line 3: ...; line 7: ... (and 4 more)"), for
    places that show a verdict without the report page: the API's file status, a failed job's message."""
    errors = (report or {}).get("errors") or []
    parts = [
        (f"line {error['line']}: " if error.get("line") else "") + str(error.get("message", "")).strip()
        for error in errors[:limit]
    ]
    more = int((report or {}).get("error_count") or len(errors)) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
