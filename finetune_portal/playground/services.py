"""The playground's writes: saving probes, running them on a model (one Celery task per probe), and
turning an answer into a new dataset version."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from finetune_portal.core.audit import audit_log
from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetKind, DatasetVersion, VersionStatus
from finetune_portal.datasets.versions import dataset_version_store, local_copy
from finetune_portal.inference.catalog import served_model_get
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_stream
from finetune_portal.playground.inputs import (
    PlaygroundInputError,
    chat_settings_from,
    conversation_from,
    settings_json,
)
from finetune_portal.playground.models import DatasetAddition, Probe, ProbeAnswer, ProbeAnswerStatus, ProbeRun
from finetune_portal.playground.streaming import error_words
from finetune_portal.projects.models import Project
from finetune_portal.providers.base import ProviderError
from finetune_portal.providers.chat import ChatSettings, ServedModel

logger = logging.getLogger(__name__)

PROBE_SOURCE = "probe"
# A probe answer claimed this long ago by a worker that never finished it (the worker died) may be
# claimed again when its task is redelivered.
STALE_CLAIM = timedelta(minutes=15)
RATE_LIMITED = (
    "Rate limited: the project has started as many answers as it may for now; run the probes again later."
)


# --- probes ---------------------------------------------------------------------------------------


def probe_save(*, project, user, name: str, messages: object, settings: object) -> Probe:
    """Keep the conversation up to its last user turn (what each model is asked) under a name."""
    name = (name or "").strip()
    if not name:
        raise PlaygroundInputError("Give the probe a name.", field="name")
    if len(name) > 120:
        raise PlaygroundInputError("A probe's name may be at most 120 characters.", field="name")
    if isinstance(messages, list):
        while messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            messages = messages[:-1]
    conversation = conversation_from(messages)
    chat_settings = chat_settings_from(settings)
    if Probe.objects.filter(project=project, name__iexact=name).exists():
        raise PlaygroundInputError(f"This project already has a probe named {name!r}.", field="name")
    try:
        with transaction.atomic():
            probe = Probe.objects.create(
                project=project,
                name=name,
                messages=conversation,
                settings=settings_json(chat_settings),
                created_by=user,
            )
    except IntegrityError:
        raise PlaygroundInputError(
            f"This project already has a probe named {name!r}.", field="name"
        ) from None
    return probe


def probe_delete(*, probe: Probe) -> None:
    probe.delete()


def probe_run_start(*, project, user, model: ServedModel, allowed: Callable[[], bool]) -> ProbeRun:
    """Ask every probe of the project of this model, one task each. ``allowed`` is asked once per probe
    (the inference rate limit); a probe past the limit is marked so instead of being sent.

    A second click while a run on the same model is still answering returns that run."""
    with transaction.atomic():
        # Two clicks at once: the second waits here, then finds the first one's run.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        unfinished = (
            ProbeRun.objects.filter(project=project, model_name=model.name)
            .filter(answers__status__in=[ProbeAnswerStatus.PENDING, ProbeAnswerStatus.RUNNING])
            .first()
        )
        if unfinished is not None:
            return unfinished
        probes = list(Probe.objects.filter(project=project))
        if not probes:
            raise PlaygroundInputError("Save a probe first: there is nothing to run.")
        run = ProbeRun.objects.create(
            project=project, model_name=model.name, model_label=model.label, created_by=user
        )
        to_send: list[int] = []
        for probe in probes:
            if allowed():
                answer = ProbeAnswer.objects.create(run=run, probe=probe)
                to_send.append(answer.pk)
            else:
                ProbeAnswer.objects.create(
                    run=run, probe=probe, status=ProbeAnswerStatus.LIMITED, error=RATE_LIMITED
                )
        transaction.on_commit(lambda: _enqueue(to_send))
    return run


def _enqueue(probe_answer_ids: list[int]) -> None:
    from finetune_portal.celery import broker_send
    from finetune_portal.playground.tasks import probe_answer_run_task

    for pk in probe_answer_ids:
        broker_send(partial(probe_answer_run_task.delay, pk), what=f"probe answer {pk}")


def _claim(probe_answer_id: int) -> bool:
    now = timezone.now()
    return bool(
        ProbeAnswer.objects.filter(pk=probe_answer_id)
        .filter(
            Q(status=ProbeAnswerStatus.PENDING)
            | Q(status=ProbeAnswerStatus.RUNNING, answer__isnull=True, claimed_at__lt=now - STALE_CLAIM)
        )
        .update(status=ProbeAnswerStatus.RUNNING, claimed_at=now, updated_at=now)
    )


def probe_answer_run(*, probe_answer_id: int) -> ProbeAnswer | None:
    """Ask the model one probe and keep its answer. Safe to deliver twice: only the task that claims
    the row asks the model, so a run has one ChatAnswer per probe however often this runs."""
    if not _claim(probe_answer_id):
        return None
    row = ProbeAnswer.objects.select_related("run__project", "probe").get(pk=probe_answer_id)
    run = row.run
    model = served_model_get(run.project, run.model_name)
    if model is None:
        return _settle(
            row, status=ProbeAnswerStatus.FAILED, error="This model is no longer available to chat with."
        )
    try:
        settings = chat_settings_from(row.probe.settings)
    except PlaygroundInputError:
        settings = ChatSettings()
    recorded: list[ChatAnswer] = []
    try:
        for _ in chat_stream(
            project=run.project,
            user=run.created_by,
            model=model,
            messages=list(row.probe.messages),
            settings=settings,
            source=PROBE_SOURCE,
            recorded=recorded,
        ):
            pass
    except ProviderError as exc:
        return _settle(row, status=ProbeAnswerStatus.FAILED, error=error_words(exc), answer=_first(recorded))
    except Exception as exc:
        logger.exception("probe answer %s failed", probe_answer_id)
        _settle(
            row,
            status=ProbeAnswerStatus.FAILED,
            error=f"The answer failed: {type(exc).__name__}.",
            answer=_first(recorded),
        )
        raise
    return _settle(row, status=ProbeAnswerStatus.DONE, answer=_first(recorded))


def _first(recorded: list[ChatAnswer]) -> ChatAnswer | None:
    return recorded[0] if recorded else None


def _settle(
    row: ProbeAnswer, *, status: str, error: str = "", answer: ChatAnswer | None = None
) -> ProbeAnswer:
    row.status = status
    row.error = error
    row.answer = answer
    row.save(update_fields=["status", "error", "answer", "updated_at"])
    return row


# --- add to dataset -------------------------------------------------------------------------------


def _example_line(answer: ChatAnswer, content: str) -> bytes:
    messages = [dict(m) for m in answer.messages]
    system_prompt = (answer.settings or {}).get("system_prompt") or ""
    if system_prompt and not any(m.get("role") in ("system", "developer") for m in messages):
        messages.insert(0, {"role": "system", "content": system_prompt})
    messages.append({"role": "assistant", "content": content})
    return json.dumps({"messages": messages}, ensure_ascii=False).encode() + b"\n"


def answer_add_to_dataset(
    *, project, user, answer: ChatAnswer, dataset: Dataset, content: str, key: uuid.UUID
) -> tuple[DatasetVersion, bool]:
    """Append the answer (as edited) to the dataset as a new version: the latest valid version's lines
    plus this example, its parent that version. The same ``key`` again returns the version the first
    request made (a double click makes one version). Returns (version, created)."""
    content = (content or "").strip()
    if not content:
        raise PlaygroundInputError("The answer to add is empty.", field="content")
    if answer.project_id != project.pk or dataset.project_id != project.pk:
        raise PlaygroundInputError("That answer or dataset is not in this project.")
    if dataset.kind != DatasetKind.CHAT:
        raise PlaygroundInputError(
            f"{dataset.name} is not a chat dataset; answers go into chat datasets.", field="dataset"
        )
    if not answer.messages:
        raise PlaygroundInputError("That answer has no conversation to add.")
    done = DatasetAddition.objects.filter(key=key).select_related("version").first()
    if done is not None:
        return done.version, False
    parent = dataset.versions.filter(status=VersionStatus.VALID).order_by("-number").first()
    if parent is None:
        raise PlaygroundInputError(
            f"{dataset.name} has no valid version yet to add to; upload one first.", field="dataset"
        )
    handle, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(handle, "wb") as out, local_copy(parent) as source, open(source, "rb") as lines:
            last = b"\n"
            for chunk in iter(lambda: lines.read(1024 * 1024), b""):
                out.write(chunk)
                last = chunk[-1:]
            if last != b"\n":
                out.write(b"\n")
            out.write(_example_line(answer, content))
        with transaction.atomic():
            try:
                version, created = dataset_version_store(
                    dataset=dataset,
                    local_path=path,
                    user=user,
                    original_filename=f"{dataset.name}-v{parent.number}-plus-answer-{answer.pk}.jsonl",
                    note=f"v{parent.number} plus an answer from the playground ({answer.model_name})",
                    parent=parent,
                    split_role=parent.split_role,
                    target=parent.validation_target,
                    base_model=parent.validation_base_model,
                )
            except DatasetInputError as exc:
                raise PlaygroundInputError(str(exc)) from exc
            try:
                with transaction.atomic():
                    DatasetAddition.objects.create(
                        key=key, project=project, answer=answer, version=version, created_by=user
                    )
            except IntegrityError:  # the same click, answered concurrently
                return DatasetAddition.objects.get(key=key).version, False
            if created:
                audit_log(
                    actor=user,
                    action="playground.answer.add_to_dataset",
                    target=version,
                    project=project,
                    data={"answer": answer.pk, "parent": parent.number},
                )
    finally:
        os.unlink(path)
    return version, created
