"""Following jobs at OpenAI: polls, events, metrics, checkpoints and outcomes, against the stand-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from finetune_portal.jobs.models import Checkpoint, FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.selectors.live import job_live_version_for
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.submit import job_submit
from finetune_portal.providers.openai.sync import job_poll, jobs_poll_due
from finetune_portal.registry.models import FineTunedModel
from tests.providers.openai.conftest import chat_lines, follow, jobs_at, make_valid_version, queued_job

pytestmark = pytest.mark.django_db


def test_sft_with_validation_runs_to_a_fine_tuned_model_with_metrics(cast, standin, openai_credential):
    validation = make_valid_version(cast.project, split_role="validation")
    job = queued_job(cast, validation_version=validation, suffix="reviews", seed=7)

    job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED
    [remote] = jobs_at(standin)
    assert job.provider_job_id == remote["id"]
    assert remote["metadata"]["portal_job_id"] == str(job.pk)
    assert remote["validation_file"] is not None
    assert remote["seed"] == 7

    job = follow(standin, job)

    assert job.status == JobStatus.SUCCEEDED
    assert job.trained_tokens == remote["trained_tokens"] > 0
    assert job.actual_cost is not None
    assert job.actual_cost > 0
    model = FineTunedModel.objects.get(job=job)
    assert model.provider_model_id == remote["fine_tuned_model"]
    assert model.provider_model_id.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert ":reviews:" in model.provider_model_id
    assert model.job.training_version_id == job.training_version_id  # lineage: version -> job -> model
    total_steps = remote["_total_steps"]
    steps = list(MetricPoint.objects.filter(job=job).values_list("step", flat=True))
    assert steps == list(range(1, total_steps + 1))
    assert MetricPoint.objects.filter(job=job, train_loss__isnull=True).count() == 0
    assert MetricPoint.objects.filter(job=job, valid_loss__isnull=False).exists()
    assert MetricPoint.objects.filter(job=job, full_valid_loss__isnull=False).count() == 3
    assert Checkpoint.objects.filter(job=job).count() == 3
    messages = list(JobEvent.objects.filter(job=job).values_list("message", flat=True))
    assert any("Validating training file" in m and "validation file" in m for m in messages)
    assert any(m.startswith("New fine-tuned model created") for m in messages)
    assert not any(m.startswith("Step ") for m in messages), "metrics events become points, not events"


def test_polls_back_off_on_429_and_5xx(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    job_path = "/fine_tuning/jobs/"

    standin.state.faults.statuses.append(("GET", job_path, 429, {"retry-after": "45"}))
    before = timezone.now()
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.next_poll_at >= before + timedelta(seconds=45)

    waits = []
    for _ in range(2):
        standin.state.faults.statuses.append(("GET", job_path, 502, {}))
        before = timezone.now()
        job_poll(job_id=job.pk)
        job.refresh_from_db()
        waits.append((job.next_poll_at - before).total_seconds())
    assert waits[1] > waits[0] > 0
    assert job.status == JobStatus.SUBMITTED
    assert not job.error_message

    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.provider_data["poll_failures"] == 0


def test_a_poll_that_finds_nothing_new_leaves_the_live_page_unchanged(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14 + 3)  # running at OpenAI, a few steps in
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    updated_at, version, next_poll_at = job.updated_at, job_live_version_for(job), job.next_poll_at

    job_poll(job_id=job.pk)  # OpenAI's clock has not moved: nothing new

    job.refresh_from_db()
    assert job.updated_at == updated_at
    assert job_live_version_for(job) == version
    assert job.next_poll_at > next_poll_at, "only when to look again changes"

    standin.state.advance(2)  # two more steps
    job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job_live_version_for(job) != version


def test_poll_fan_out_sends_each_due_job_once(cast, standin, openai_credential):
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    assert jobs_poll_due() == [job.pk]
    assert jobs_poll_due() == []


def test_unknown_statuses_extra_fields_and_a_null_error_never_crash_the_poller(
    cast, standin, openai_credential
):
    standin.state.faults.extra_fields = True
    standin.state.faults.null_error_object = True
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    standin.state.force_status(job.provider_job_id, "winding_down")

    job_poll(job_id=job.pk)
    job_poll(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED
    assert job.provider_status == "winding_down"
    assert not job.error_message
    warnings = JobEvent.objects.filter(job=job, level="warn", message__contains="winding_down")
    assert warnings.count() == 1


def test_paging_through_300_events_stores_every_step_then_stops_at_the_known_one(
    cast, standin, openai_credential
):
    job = queued_job(
        cast,
        training_version=make_valid_version(cast.project, examples=300),
        hyperparameters={"batch_size": 1},
    )
    FineTuningJob.objects.filter(pk=job.pk).update(hyperparameters={"n_epochs": 1, "batch_size": 1})
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(10 + 150)  # half-way: 150 steps
    job_poll(job_id=job.pk)
    assert MetricPoint.objects.filter(job=job).count() == 150
    standin.state.run_to_completion()
    standin.state.requests.clear()

    job_poll(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert list(MetricPoint.objects.filter(job=job).values_list("step", flat=True)) == list(range(1, 301))
    pages = [r for r in standin.state.requests if r["path"].endswith("/events")]
    assert len(pages) == 2  # 150 new steps + a few messages: two pages of 100, stopping at the known event
    assert pages[1]["query"]["after"] == pages[0]["response"]["data"][-1]["id"]


@pytest.mark.parametrize("encoded", [False, True])
def test_the_results_file_fills_metric_gaps_in_either_encoding(cast, standin, openai_credential, encoded):
    standin.state.faults.results_base64 = encoded
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(10 + 8)
    job_poll(job_id=job.pk)
    # Points that never arrived as events (lost, or expired at the provider) come back from the CSV.
    MetricPoint.objects.filter(job=job, step__lte=5).delete()

    job = follow(standin, job)

    total = jobs_at(standin)[0]["_total_steps"]
    assert list(MetricPoint.objects.filter(job=job).values_list("step", flat=True)) == list(
        range(1, total + 1)
    )
    first = MetricPoint.objects.get(job=job, step=1)
    assert first.train_loss is not None
    assert first.train_mean_token_accuracy is not None


def test_a_failed_job_shows_openais_message_verbatim_with_a_hint(cast, standin, openai_credential):
    too_small = make_valid_version(cast.project, content=chat_lines(4), examples=4)
    job = queued_job(cast, training_version=too_small)
    job_submit(job_id=job.pk, worker_id="task-1")

    job = follow(standin, job)

    assert job.status == JobStatus.FAILED
    assert job.error_message == jobs_at(standin)[0]["error"]["message"]
    assert "at least 10 examples" in job.error_message
    assert "validation report" in job.error_hint


def test_a_line_in_the_wrong_format_for_the_method_fails_at_openai_with_its_number(
    cast, standin, openai_credential
):
    chat_data = make_valid_version(cast.project)  # chat lines, but launched as DPO
    job = queued_job(cast, method="dpo", base_model="gpt-4.1-mini-2025-04-14", training_version=chat_data)
    job_submit(job_id=job.pk, worker_id="task-1")

    job = follow(standin, job)

    assert job.status == JobStatus.FAILED
    assert "Example 1: is missing input, preferred_output, non_preferred_output." in job.error_message
    assert "validation report" in job.error_hint


def test_durations_come_from_the_portals_clock_when_openais_runs_ahead(cast, standin, openai_credential):
    """The demo stand-in runs its clock fast; its finished_at and event times are kept as provider data."""
    import csv
    import io
    import time

    from finetune_portal.jobs.compare import comparison_build, comparison_csv
    from finetune_portal.jobs.selectors.lists import job_progress, jobs_for_project, with_run_figures

    standin.state.now = int(time.time()) + 3600  # an hour ahead of the portal
    job = queued_job(cast)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(1800)  # half an hour of OpenAI time passes in one poll interval
    job = follow(standin, job)
    assert job.status == JobStatus.SUCCEEDED
    [remote] = jobs_at(standin)

    now = timezone.now()
    assert job.finished_at <= now
    assert job.provider_data["finished_at"] == remote["finished_at"]
    # The settings left to OpenAI ("auto") are stored as it resolved them, for the comparison page.
    resolved = job.provider_data["resolved_hyperparameters"]
    assert resolved["n_epochs"] == remote["method"]["supervised"]["hyperparameters"]["n_epochs"] >= 1
    assert "auto" not in resolved.values()
    elapsed = job_progress(job).elapsed
    assert timedelta(0) <= elapsed < timedelta(minutes=5)
    listed = with_run_figures(jobs_for_project(cast.project)).get(pk=job.pk)
    assert listed.duration == elapsed

    other = queued_job(cast)
    job_submit(job_id=other.pk, worker_id="task-2")
    follow(standin, other)
    table = list(csv.reader(io.StringIO(comparison_csv(comparison_build(cast.project, [job.pk, other.pk])))))
    [durations] = [row for row in table if row[0] == "duration (s)"]
    assert all(0 <= int(seconds) < 300 for seconds in durations[1:])

    events = JobEvent.objects.filter(job=job).exclude(provider_event_id="")
    assert events.exists()
    for event in events:
        assert event.created_at <= now, "no event shown in the future"
        assert event.data["provider_created_at"] > now.timestamp() + 3000  # OpenAI's time, kept as data
