"""Capturing an OpenAI model's answers through the real SDK against the stand-in: direct calls and the
Batch API, the estimate, resuming after a crash, and refusals and rate limits handled per prompt."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import orjson
import pytest
from django.utils import timezone

from finetune_portal.captures.models import Capture, CaptureItem, CaptureStatus, ItemStatus
from finetune_portal.captures.running import batch_tag, capture_step
from finetune_portal.captures.services import CaptureInputError, capture_cancel, capture_plan, capture_start
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.versions import local_copy
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.playground.models import Probe
from finetune_portal.providers.base import BatchRequest
from finetune_portal.providers.chat import ChatSettings
from finetune_portal.providers.registry import get_provider
from tests.captures.conftest import MODEL_ID

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]


def _start(cast, fine_tuned, version, mode="direct", **extra) -> Capture:
    capture, created = capture_start(
        project=cast.project,
        user=cast.member,
        fine_tuned_model=fine_tuned,
        version=version,
        mode=mode,
        max_tokens=64,
        enqueue=False,
        **extra,
    )
    assert created
    return capture


def _run(capture: Capture, limit: int = 50) -> Capture:
    """Steps as the task chain sends them, until none is due now."""
    for _ in range(limit):
        due = capture_step(capture_id=capture.pk)
        if due is None or due > 0:
            break
    capture.refresh_from_db()
    return capture


def _chat_requests(standin) -> list[dict]:
    return [r for r in standin.state.requests if r["path"] == "/v1/chat/completions"]


def _lines(version: DatasetVersion) -> list[dict]:
    with local_copy(version) as path, open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle.read().splitlines() if line.strip()]


def test_direct_capture_stores_the_answers_as_a_new_chat_version_with_lineage(
    cast, fine_tuned, questions, standin
):
    capture = _run(_start(cast, fine_tuned, questions))

    assert capture.status == CaptureStatus.SUCCEEDED
    version = capture.result_version
    assert version.dataset.name == f"Answers of {MODEL_ID}"
    assert version.dataset.kind == "chat"
    assert version.parent == questions
    assert version.note.startswith(f"answers of {MODEL_ID} on support questions v1, captured 20")
    assert version.split_role == "validation"
    lines = _lines(version)
    assert len(lines) == 5
    first = lines[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[-1]["content"] == f"(stand-in answer from {MODEL_ID}) You said: {first[1]['content']}"
    sent = _chat_requests(standin)
    assert len(sent) == 5
    assert sent[0]["body"]["temperature"] == 0
    assert sent[0]["body"]["max_completion_tokens"] == 64
    answers = ChatAnswer.objects.filter(source="capture", model_name=MODEL_ID)
    assert answers.count() == 5
    assert all(a.cost_usd is not None for a in answers)


def test_the_saved_probes_can_be_captured(cast, fine_tuned, standin):
    for name in ("greeting", "refund"):
        Probe.objects.create(project=cast.project, name=name, messages=[{"role": "user", "content": name}])
    capture = _run(_start(cast, fine_tuned, None))
    assert capture.status == CaptureStatus.SUCCEEDED
    assert "on saved probes" in capture.result_version.note
    assert [line["messages"][0]["content"] for line in _lines(capture.result_version)] == [
        "greeting",
        "refund",
    ]


def test_the_estimate_is_shown_first_and_the_batch_costs_half(cast, fine_tuned, questions, standin):
    direct = capture_plan(
        project=cast.project, fine_tuned_model=fine_tuned, version=questions, mode="direct", max_tokens=64
    )
    batch = capture_plan(
        project=cast.project, fine_tuned_model=fine_tuned, version=questions, mode="batch", max_tokens=64
    )
    assert len(direct.prompts) == 5
    # Five prompts of ~20 tokens and 64 out each at fine-tuned gpt-4o-mini prices: well under a cent.
    assert Decimal("0") < direct.cost_estimate_usd < Decimal("0.01")
    assert batch.cost_estimate_usd == (direct.cost_estimate_usd / 2).quantize(Decimal("0.0001"))
    assert not _chat_requests(standin), "an estimate asks nothing"


def test_a_restarted_worker_resumes_without_asking_answered_prompts_again(
    cast, fine_tuned, questions, standin
):
    capture = _start(cast, fine_tuned, questions)
    from finetune_portal.captures import running

    running._direct_step(capture, running.served_model_of(fine_tuned), size=2)
    # A worker claimed the next two and died before answering them.
    stale = timezone.now() - running.STALE_CLAIM - timedelta(seconds=1)
    CaptureItem.objects.filter(capture=capture, index__in=[2, 3]).update(
        status=ItemStatus.RUNNING, claimed_at=stale, claim="deadworker"
    )
    capture = _run(capture)

    assert capture.status == CaptureStatus.SUCCEEDED
    asked = [r["body"]["messages"][-1]["content"] for r in _chat_requests(standin)]
    assert len(asked) == 5, "each prompt asked once"
    assert len(set(asked)) == 5
    assert len(_lines(capture.result_version)) == 5


def test_refusals_filters_and_rate_limits_are_handled_per_prompt(cast, fine_tuned, standin):
    prompts = ["ordinary one", "forbidden topic", "filtered topic", "ordinary two"]
    for i, text in enumerate(prompts):
        Probe.objects.create(project=cast.project, name=f"p{i}", messages=[{"role": "user", "content": text}])
    standin.state.faults.refuse_containing.append("forbidden")
    standin.state.faults.filter_containing.append("filtered")
    # The SDK retries a 429 twice on its own; the third answers the portal's own retry.
    standin.state.faults.statuses += [("POST", "/chat/completions", 429, {"retry-after-ms": "1"})] * 3
    capture = _start(cast, fine_tuned, None)

    due = capture_step(capture_id=capture.pk)

    items = {i.index: i for i in capture.items.all()}
    assert items[0].status == ItemStatus.PENDING, "rate limited: asked again later"
    assert "Rate limit reached." in items[0].error
    assert "Asking again in 10 s" in items[0].error
    assert items[1].status == ItemStatus.REFUSED
    assert items[1].error == "The model refused: I'm sorry, I can't help with that."
    assert items[2].status == ItemStatus.REFUSED
    assert "content filter" in items[2].error
    assert items[3].status == ItemStatus.DONE
    assert 0 < due <= 10
    # Time passes; the rate-limited prompt is due again.
    CaptureItem.objects.filter(pk=items[0].pk).update(retry_at=timezone.now() - timedelta(seconds=1))
    capture = _run(capture)

    assert capture.status == CaptureStatus.SUCCEEDED
    assert capture.items.get(index=0).status == ItemStatus.DONE
    stored = [line["messages"][0]["content"] for line in _lines(capture.result_version)]
    assert stored == ["ordinary one", "ordinary two"]
    assert "(2 unanswered left out)" in capture.result_version.note


def test_a_capture_whose_every_prompt_fails_makes_no_version(cast, fine_tuned, standin):
    Probe.objects.create(project=cast.project, name="p", messages=[{"role": "user", "content": "forbidden"}])
    standin.state.faults.refuse_containing.append("forbidden")
    capture = _run(_start(cast, fine_tuned, None))
    assert capture.status == CaptureStatus.FAILED
    assert capture.result_version is None
    assert "No prompt was answered" in capture.error


def test_batch_capture_submits_once_is_checked_and_stores_the_answers(cast, fine_tuned, questions, standin):
    standin.state.faults.refuse_containing.append("Question 3")
    capture = _start(cast, fine_tuned, questions, mode="batch")

    assert capture_step(capture_id=capture.pk) is None  # submitted; beat checks it from now on
    capture.refresh_from_db()
    (batch,) = standin.state.batches.values()
    assert capture.batch_id == batch["id"]
    uploaded = standin.state.files[batch["input_file_id"]]
    lines = [json.loads(line) for line in uploaded.content.splitlines()]
    assert [line["custom_id"] for line in lines] == ["0", "1", "2", "3", "4"]
    assert lines[0]["body"]["temperature"] == 0
    assert "stream" not in lines[0]["body"]
    assert set(capture.items.values_list("status", flat=True)) == {ItemStatus.RUNNING}

    capture_step(capture_id=capture.pk)
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.RUNNING
    assert capture.batch_status == "in_progress"

    standin.state.advance(61)
    capture_step(capture_id=capture.pk)
    capture.refresh_from_db()

    assert capture.status == CaptureStatus.SUCCEEDED
    assert len(standin.state.batches) == 1
    assert not _chat_requests(standin), "no direct call"
    assert capture.items.get(index=3).status == ItemStatus.REFUSED
    assert len(_lines(capture.result_version)) == 4
    answers = ChatAnswer.objects.filter(source="capture")
    assert answers.count() == 5
    answered = answers.exclude(error="").count()
    assert answered == 1
    assert all(a.cost_usd is not None for a in answers.filter(error=""))


def test_a_batch_sent_by_a_worker_that_died_before_saving_its_id_is_found_not_sent_again(
    cast, fine_tuned, questions, standin
):
    capture = _start(cast, fine_tuned, questions, mode="batch")
    model = get_provider("openai")
    request = BatchRequest("0", [{"role": "user", "content": "hi"}], ChatSettings())
    from finetune_portal.inference.catalog import served_model_of

    sent = model.batch_submit(
        project=cast.project, model=served_model_of(fine_tuned), requests=[request], tag=batch_tag(capture)
    )
    capture_step(capture_id=capture.pk)
    capture.refresh_from_db()
    assert capture.batch_id == sent
    assert len(standin.state.batches) == 1


def test_a_model_past_its_shutdown_is_not_captured(cast, fine_tuned, questions, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: date(2027, 1, 20))
    with pytest.raises(CaptureInputError) as refused:
        _start(cast, fine_tuned, questions)
    assert "no longer answers" in refused.value.message
    assert not Capture.objects.exists()


def test_cancelling_a_batch_capture_cancels_the_batch_and_makes_no_version(
    cast, fine_tuned, questions, standin, django_capture_on_commit_callbacks
):
    capture = _start(cast, fine_tuned, questions, mode="batch")
    capture_step(capture_id=capture.pk)
    capture.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        assert capture_cancel(capture=capture, user=cast.member)
    capture_step(capture_id=capture.pk)

    (batch,) = standin.state.batches.values()
    assert batch["status"] == "cancelled"
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.CANCELLED
    assert capture.batch_status == "cancelling"
    standin.state.advance(61)
    assert capture_step(capture_id=capture.pk) is None
    capture.refresh_from_db()
    assert capture.result_version is None


def test_a_model_still_deploying_is_asked_again_later_not_failed(cast, fine_tuned, questions, standin):
    type(fine_tuned.job).objects.filter(pk=fine_tuned.job_id).update(finished_at=timezone.now())
    # OpenAI answers 404 for a few minutes after a job succeeds.
    standin.state.jobs["ftjob-capture1"].obj["finished_at"] = standin.state.now
    capture = _start(cast, fine_tuned, questions)

    due = capture_step(capture_id=capture.pk)

    assert 0 < due <= 10
    item = capture.items.get(index=0)
    assert item.status == ItemStatus.PENDING
    assert item.error.startswith("Not ready yet: OpenAI is still deploying this model")
    standin.state.advance(61)
    CaptureItem.objects.filter(capture=capture).update(retry_at=timezone.now() - timedelta(seconds=1))
    capture = _run(capture)
    assert capture.status == CaptureStatus.SUCCEEDED
    assert len(_lines(capture.result_version)) == 5
