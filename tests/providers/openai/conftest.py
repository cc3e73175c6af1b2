from __future__ import annotations

import json
from datetime import date

import pytest
from django.utils import timezone

from devtools.openai_standin import StandinServer
from finetune_portal.celery import app as celery_app
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.sync import job_poll
from tests.celery_support import broker_for_test
from tests.factories import make_dataset, make_job, make_version


@pytest.fixture
def standin():
    """A fresh stand-in OpenAI on a loopback port; its clock moves only when a test advances it."""
    server = StandinServer().start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def openai_credential(db, standin, settings, cast):
    from finetune_portal.credentials.services import credential_create

    # Short enough that the "slow answer" fault times out quickly.
    settings.OPENAI_REQUEST_TIMEOUT = 2.0
    return credential_create(
        kind="openai",
        secret="sk-standin-test-0000",
        label="Stand-in server (not OpenAI)",
        base_url=standin.base_url,
        actor=cast.site_admin,
    )


# A day on which gpt-4o-mini and gpt-4.1-mini still answer and the October 2026 shutdowns have happened.
WIND_DOWN_DAY = date(2026, 12, 1)


@pytest.fixture
def wind_down_day(monkeypatch):
    """Pins "today" for shutdown dates, so chats with gpt-4o-mini models keep passing after 2027-01-14."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: WIND_DOWN_DAY)
    return WIND_DOWN_DAY


@pytest.fixture
def memory_broker():
    """An in-process broker, so a worker thread and the test share queues without a server."""
    with broker_for_test(celery_app, "memory://") as app:
        yield app


def chat_lines(count: int = 12) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(count)
    ]
    return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()


def dpo_lines(count: int = 12) -> bytes:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"Say hi {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Hello!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(count)
    ]
    return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()


def rft_lines(count: int = 12) -> bytes:
    rows = [
        {"messages": [{"role": "user", "content": f"2+{i}?"}], "answer": str(2 + i)} for i in range(count)
    ]
    return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()


GRADER = {
    "type": "string_check",
    "name": "exact answer",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}


def make_valid_version(
    project, *, kind: str = "chat", content: bytes | None = None, examples: int = 12, **extra
):
    content = content or {"chat": chat_lines, "dpo": dpo_lines, "rft": rft_lines, "vision": chat_lines}[kind](
        examples
    )
    dataset = make_dataset(project, kind=kind)
    report = {"stats": {"examples": examples, "total_tokens": len(content) // 4}}
    return make_version(
        dataset, content=content, status="valid", example_count=examples, validation_report=report, **extra
    )


def queued_job(cast, **fields):
    fields.setdefault("training_version", make_valid_version(cast.project))
    return make_job(cast.project, created_by=cast.member, status=JobStatus.QUEUED, **fields)


def follow(standin, job, *, step_seconds: int = 5, limit: int = 200) -> FineTuningJob:
    """Advance the stand-in's clock and poll, as beat would, until the job ends."""
    for _ in range(limit):
        job.refresh_from_db()
        if job.is_final:
            return job
        standin.state.advance(step_seconds)
        job_poll(job_id=job.pk)
    raise AssertionError(f"job stayed {job.status}")


def jobs_at(standin) -> list[dict]:
    return [stored.obj for stored in standin.state.jobs.values()]
