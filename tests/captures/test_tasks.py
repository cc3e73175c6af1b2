"""The capture's Celery tasks: a chain of steps that ends the capture, and beat's choice of captures due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.captures.models import Capture, CaptureStatus
from finetune_portal.captures.running import BATCH_POLL_SECONDS, STALE_CLAIM, captures_due
from finetune_portal.captures.services import capture_start
from finetune_portal.captures.tasks import capture_step_task
from finetune_portal.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]


def _start(cast, fine_tuned, questions, mode: str) -> Capture:
    capture, _ = capture_start(
        project=cast.project,
        user=cast.member,
        fine_tuned_model=fine_tuned,
        version=questions,
        mode=mode,
        enqueue=False,
    )
    return capture


def test_the_task_chain_answers_every_prompt_and_ends_the_capture(
    cast, fine_tuned, questions, standin, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    capture = _start(cast, fine_tuned, questions, "direct")
    capture_step_task.delay(capture.pk)
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.SUCCEEDED
    assert capture.result_version is not None
    # Delivered again after it ended: nothing more is asked.
    asked = len(standin.state.requests)
    capture_step_task.delay(capture.pk)
    assert len(standin.state.requests) == asked


def test_beat_checks_batches_not_checked_lately_and_revives_stalled_direct_captures(
    cast, fine_tuned, questions, standin
):
    now = timezone.now()
    unchecked = _start(cast, fine_tuned, questions, "batch")
    checked = _start(cast, fine_tuned, questions, "batch")
    stale_batch = _start(cast, fine_tuned, questions, "batch")
    stalled = _start(cast, fine_tuned, questions, "direct")
    busy = _start(cast, fine_tuned, questions, "direct")
    ended = _start(cast, fine_tuned, questions, "batch")
    Capture.objects.filter(pk=checked.pk).update(batch_checked_at=now - timedelta(seconds=5))
    Capture.objects.filter(pk=stale_batch.pk).update(
        batch_checked_at=now - timedelta(seconds=BATCH_POLL_SECONDS + 1)
    )
    Capture.objects.filter(pk=stalled.pk).update(stepped_at=now - STALE_CLAIM - timedelta(seconds=1))
    Capture.objects.filter(pk=busy.pk).update(stepped_at=now - timedelta(seconds=30))
    Capture.objects.filter(pk=ended.pk).update(status=CaptureStatus.CANCELLED)

    assert sorted(captures_due(now)) == sorted([unchecked.pk, stale_batch.pk, stalled.pk])
