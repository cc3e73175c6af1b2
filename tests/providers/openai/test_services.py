"""The worker flow against the stand-in server, through the real SDK and the real database."""

from __future__ import annotations

import base64
import threading
import time
from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from finetune_portal.jobs.models import Checkpoint, FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.services import job_cancel, job_pause, job_resume
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ProviderUnavailable
from finetune_portal.providers.openai import services
from finetune_portal.providers.openai.models import UploadedFile
from finetune_portal.registry.models import FineTunedModel
from tests.factories import make_job
from tests.providers.openai.conftest import GRADER, chat_lines, make_valid_version

pytestmark = pytest.mark.django_db


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
        services.job_poll(job_id=job.pk)
    raise AssertionError(f"job stayed {job.status}")


def jobs_at(standin) -> list[dict]:
    return [stored.obj for stored in standin.state.jobs.values()]


def test_sft_with_validation_runs_to_a_fine_tuned_model_with_metrics(cast, standin, openai_credential):
    validation = make_valid_version(cast.project, split_role="validation")
    job = queued_job(cast, validation_version=validation, suffix="reviews", seed=7)

    services.job_submit(job_id=job.pk, worker_id="task-1")
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


@pytest.mark.parametrize(
    ("method", "kind", "model", "hyperparameters", "wire_type"),
    [
        ("dpo", "dpo", "gpt-4.1-mini-2025-04-14", {"beta": 0.2, "n_epochs": 2}, "dpo"),
        (
            "rft",
            "rft",
            "o4-mini-2025-04-16",
            {"reasoning_effort": "low", "eval_interval": 2},
            "reinforcement",
        ),
    ],
)
def test_dpo_and_rft_jobs_send_their_method_and_succeed(
    cast, standin, openai_credential, method, kind, model, hyperparameters, wire_type
):
    job = queued_job(
        cast,
        method=method,
        base_model=model,
        training_version=make_valid_version(cast.project, kind=kind),
        hyperparameters=hyperparameters,
        provider_data={"grader": GRADER} if method == "rft" else {},
    )
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job = follow(standin, job)

    [remote] = jobs_at(standin)
    assert remote["method"]["type"] == wire_type
    sent = remote["method"][wire_type]["hyperparameters"]
    for key, value in hyperparameters.items():
        assert sent[key] == value
    if method == "rft":
        assert remote["method"]["reinforcement"]["grader"] == GRADER
    assert job.status == JobStatus.SUCCEEDED
    assert FineTunedModel.objects.filter(job=job, provider_model_id=remote["fine_tuned_model"]).exists()
    assert MetricPoint.objects.filter(job=job).count() > 0


def test_the_same_file_is_uploaded_once_per_credential(cast, standin, openai_credential):
    version = make_valid_version(cast.project)
    first, second = queued_job(cast, training_version=version), queued_job(cast, training_version=version)
    services.job_submit(job_id=first.pk, worker_id="a")
    services.job_submit(job_id=second.pk, worker_id="b")
    uploads = [r for r in standin.state.requests if r["method"] == "POST" and r["path"] == "/v1/files"]
    assert len(uploads) == 1
    assert UploadedFile.objects.filter(credential=openai_credential, sha256=version.sha256).count() == 1
    assert len({job["training_file"] for job in jobs_at(standin)}) == 1


def test_a_dropped_create_response_is_adopted_not_repeated(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.drop_after_handling.append(("POST", "/fine_tuning/jobs"))

    services.job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    [remote] = jobs_at(standin)
    assert job.provider_job_id == remote["id"]
    assert job.status == JobStatus.SUBMITTED
    creates = [
        r for r in standin.state.requests if r["method"] == "POST" and r["path"] == "/v1/fine_tuning/jobs"
    ]
    assert len(creates) == 1, "the SDK must not retry a create"


def test_a_create_that_times_out_after_creating_is_adopted(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.delay_after_handling.append(("POST", "/fine_tuning/jobs", 3.0))

    services.job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    assert len(jobs_at(standin)) == 1
    assert job.provider_job_id == jobs_at(standin)[0]["id"]


def test_a_5xx_before_creating_is_retried_later_by_the_same_task(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 500, {}))

    with pytest.raises(services.RetryLater):
        services.job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.VALIDATING_FILES
    assert job.claimed_by == "task-1"
    assert jobs_at(standin) == []

    services.job_submit(job_id=job.pk, worker_id="task-1")  # Celery's retry keeps the task id
    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTED
    assert len(jobs_at(standin)) == 1


def test_another_worker_does_not_take_a_fresh_claim(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 503, {}))
    with pytest.raises(services.RetryLater):
        services.job_submit(job_id=job.pk, worker_id="task-1")

    services.job_submit(job_id=job.pk, worker_id="task-2")

    job.refresh_from_db()
    assert job.claimed_by == "task-1"
    assert jobs_at(standin) == []


def test_a_worker_killed_between_create_and_save_is_adopted_by_redelivery_and_by_the_reaper(
    cast, standin, openai_credential
):
    job = queued_job(cast)
    client = openai.OpenAI(api_key="sk-standin-test-0000", base_url=standin.base_url)
    # What the dead worker got done: it claimed the job and OpenAI created it, then the process died.
    assert services._claim(job, "dead-task")
    upload = client.files.create(file=("t.jsonl", chat_lines()), purpose="fine-tune")
    services.provider_job_create(client, job, training_file=upload.id)
    [remote] = jobs_at(standin)

    # The reaper ignores a claim until it is stale.
    assert job.pk not in services.jobs_reap().resubmit
    later = timezone.now() + services.CLAIM_STALE_AFTER + timedelta(seconds=1)
    assert job.pk in services.jobs_reap(now=later).resubmit
    job.refresh_from_db()
    job.heartbeat_at = job.heartbeat_at - services.CLAIM_STALE_AFTER - timedelta(seconds=1)
    FineTuningJob.objects.filter(pk=job.pk).update(heartbeat_at=job.heartbeat_at)

    services.job_submit(job_id=job.pk, worker_id="reaper-task")

    job.refresh_from_db()
    assert job.provider_job_id == remote["id"]
    assert job.status == JobStatus.SUBMITTED
    assert len(jobs_at(standin)) == 1


def test_a_redelivered_message_adopts_without_waiting(cast, standin, openai_credential):
    job = queued_job(cast)
    client = openai.OpenAI(api_key="sk-standin-test-0000", base_url=standin.base_url)
    assert services._claim(job, "task-1")
    upload = client.files.create(file=("t.jsonl", chat_lines()), purpose="fine-tune")
    services.provider_job_create(client, job, training_file=upload.id)

    services.job_submit(job_id=job.pk, worker_id="task-1")  # same message delivered again

    job.refresh_from_db()
    assert job.provider_job_id == jobs_at(standin)[0]["id"]
    assert len(jobs_at(standin)) == 1


def test_a_task_delivered_again_after_success_does_nothing(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    services.job_submit(job_id=job.pk, worker_id="task-1")
    services.job_submit(job_id=job.pk, worker_id="task-2")
    assert len(jobs_at(standin)) == 1


def test_a_rate_limited_create_waits_as_long_as_openai_asks(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 429, {"retry-after": "7"}))
    with pytest.raises(services.RetryLater) as caught:
        services.job_submit(job_id=job.pk, worker_id="task-1")
    assert caught.value.retry_after == 7
    assert jobs_at(standin) == []


def test_polls_back_off_on_429_and_5xx(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job_path = "/fine_tuning/jobs/"

    standin.state.faults.statuses.append(("GET", job_path, 429, {"retry-after": "45"}))
    before = timezone.now()
    services.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.next_poll_at >= before + timedelta(seconds=45)

    waits = []
    for _ in range(2):
        standin.state.faults.statuses.append(("GET", job_path, 502, {}))
        before = timezone.now()
        services.job_poll(job_id=job.pk)
        job.refresh_from_db()
        waits.append((job.next_poll_at - before).total_seconds())
    assert waits[1] > waits[0] > 0
    assert job.status == JobStatus.SUBMITTED
    assert not job.error_message

    services.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.provider_data["poll_failures"] == 0


def test_poll_fan_out_sends_each_due_job_once(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    assert services.jobs_poll_due() == [job.pk]
    assert services.jobs_poll_due() == []


def _cancel(job, user):
    job.refresh_from_db()
    job_cancel(job=job, actor=user)
    job.refresh_from_db()
    if job.status == JobStatus.CANCELLING:
        services.job_cancel_at_provider(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_cancel_before_the_worker_claims_it_never_reaches_openai(cast, standin, openai_credential):
    job = _cancel(queued_job(cast), cast.member)
    assert job.status == JobStatus.CANCELLED
    services.job_submit(job_id=job.pk, worker_id="task-1")
    assert jobs_at(standin) == []


def test_cancel_while_files_are_handed_over_creates_nothing(cast, standin, openai_credential):
    job = queued_job(cast)
    assert services._claim(job, "task-1")
    job = _cancel(job, cast.member)
    assert job.status == JobStatus.CANCELLED

    services.job_submit(job_id=job.pk, worker_id="task-1")  # the claiming task runs again

    assert jobs_at(standin) == []


@pytest.mark.django_db(transaction=True)
def test_cancel_during_the_create_call_stops_the_job_openai_just_made(
    cast, standin, openai_credential, memory_broker
):
    job = queued_job(cast)
    standin.state.faults.delay_after_handling.append(("POST", "/fine_tuning/jobs", 1.0))
    worker = threading.Thread(target=services.job_submit, kwargs={"job_id": job.pk, "worker_id": "task-1"})
    worker.start()
    for _ in range(100):
        if jobs_at(standin):
            break
        time.sleep(0.02)

    job = _cancel(job, cast.member)  # OpenAI has the job, the worker has not heard back yet
    worker.join()

    [remote] = jobs_at(standin)
    assert remote["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.provider_job_id == remote["id"]


@pytest.mark.parametrize(
    ("seconds", "remote_status"), [(0, "validating_files"), (7, "queued"), (14, "running")]
)
def test_cancel_at_openai_in_each_of_its_states(cast, standin, openai_credential, seconds, remote_status):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(seconds)
    services.job_poll(job_id=job.pk)
    assert jobs_at(standin)[0]["status"] == remote_status

    job = _cancel(job, cast.member)

    assert job.status == JobStatus.CANCELLED
    assert jobs_at(standin)[0]["status"] == "cancelled"


def test_cancel_of_a_paused_job(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    standin.state.advance(14)
    openai.OpenAI(api_key="k", base_url=standin.base_url).fine_tuning.jobs.pause(job.provider_job_id)
    services.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED
    assert job.provider_status == "paused"

    job = _cancel(job, cast.member)
    assert job.status == JobStatus.CANCELLED


def test_a_job_paused_and_resumed_from_the_portal_goes_on_to_succeed(
    cast, standin, openai_credential, django_capture_on_commit_callbacks
):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14)
    services.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    with django_capture_on_commit_callbacks() as sent:
        job_pause(job=job, actor=cast.member)
    assert len(sent) == 1  # the pause task, once the request commits
    services.job_pause_at_provider(job_id=job.pk)  # what that task runs

    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED
    assert jobs_at(standin)[0]["status"] == "paused"
    standin.state.advance(600)
    services.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.PAUSED, "a paused job stays paused while time passes"

    with django_capture_on_commit_callbacks(execute=False):
        job_resume(job=job, actor=cast.member)
    services.job_resume_at_provider(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING

    assert follow(standin, job).status == JobStatus.SUCCEEDED
    assert list(job.transitions.values_list("to_status", flat=True))[-4:] == [
        "running",
        "paused",
        "running",
        "succeeded",
    ]
    requests = job.events.filter(message__endswith=f"requested by {cast.member}.")
    assert sorted(requests.values_list("message", flat=True)) == [
        f"Pause requested by {cast.member}.",
        f"Resume requested by {cast.member}.",
    ]


def test_a_pause_openai_refuses_is_shown_in_its_words(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(7)  # queued at OpenAI, while the portal last saw it running
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)

    services.job_pause_at_provider(job_id=job.pk)

    refusal = job.events.get(level="error")
    assert refusal.message.startswith("OpenAI refused to pause the job: Only running jobs can be paused")
    assert jobs_at(standin)[0]["status"] == "queued"


def test_a_local_job_cannot_be_paused(cast):
    job = make_job(cast.project, created_by=cast.member, status=JobStatus.RUNNING, provider="local_peft")
    with pytest.raises(ProviderUnavailable, match="cannot be paused"):
        job_pause(job=job, actor=cast.member)
    assert not job.events.exists()


def test_cancel_that_arrives_after_the_job_finished_records_how_it_ended(cast, standin, openai_credential):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(14)
    services.job_poll(job_id=job.pk)
    standin.state.run_to_completion()

    job = _cancel(job, cast.member)

    assert job.status == JobStatus.SUCCEEDED
    assert FineTunedModel.objects.filter(job=job).exists()


def test_unknown_statuses_extra_fields_and_a_null_error_never_crash_the_poller(
    cast, standin, openai_credential
):
    standin.state.faults.extra_fields = True
    standin.state.faults.null_error_object = True
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    standin.state.force_status(job.provider_job_id, "winding_down")

    services.job_poll(job_id=job.pk)
    services.job_poll(job_id=job.pk)

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
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(10 + 150)  # half-way: 150 steps
    services.job_poll(job_id=job.pk)
    assert MetricPoint.objects.filter(job=job).count() == 150
    standin.state.run_to_completion()
    standin.state.requests.clear()

    services.job_poll(job_id=job.pk)

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
    services.job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.advance(10 + 8)
    services.job_poll(job_id=job.pk)
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


def test_results_csv_is_read_by_column_name_and_decoded_when_base64():
    text = (
        "step,valid_loss,train_loss,train_accuracy,valid_mean_token_accuracy\n"
        "1,,1.52347,0.0,\n"
        "2,0.9,1.2,0.5,0.7\n"
    )
    for raw in (text, base64.b64encode(text.encode()), base64.b64encode(text.encode()).decode()):
        points = services.parse_results_csv(raw)
        assert points == [
            {"step": 1, "train_loss": 1.52347, "train_mean_token_accuracy": 0.0},
            {
                "step": 2,
                "valid_loss": 0.9,
                "train_loss": 1.2,
                "train_mean_token_accuracy": 0.5,
                "valid_mean_token_accuracy": 0.7,
            },
        ]
    assert services.parse_results_csv("not a csv and not base64 !!") == []


def test_a_failed_job_shows_openais_message_verbatim_with_a_hint(cast, standin, openai_credential):
    too_small = make_valid_version(cast.project, content=chat_lines(4), examples=4)
    job = queued_job(cast, training_version=too_small)
    services.job_submit(job_id=job.pk, worker_id="task-1")

    job = follow(standin, job)

    assert job.status == JobStatus.FAILED
    assert job.error_message == jobs_at(standin)[0]["error"]["message"]
    assert "at least 10 examples" in job.error_message
    assert "validation report" in job.error_hint


def test_a_refused_create_fails_the_job_with_the_message_and_a_hint(cast, standin, openai_credential):
    job = queued_job(cast, base_model="gpt-9-imaginary")
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message == "Model gpt-9-imaginary is not available for fine-tuning or does not exist."
    assert "base model" in job.error_hint
    assert jobs_at(standin) == []


def test_without_a_credential_the_job_fails_and_says_where_to_add_one(cast):
    job = queued_job(cast)
    services.job_submit(job_id=job.pk, worker_id="task-1")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "No OpenAI credential" in job.error_message
    assert "Credentials" in job.error_hint


def test_import_brings_in_the_accounts_past_jobs_once_with_their_metrics(cast, standin, openai_credential):
    client = openai.OpenAI(api_key="k", base_url=standin.base_url)
    upload = client.files.create(file=("old.jsonl", chat_lines()), purpose="fine-tune")
    old = [client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id) for _ in range(2)]
    standin.state.run_to_completion()
    ours = queued_job(cast)
    services.job_submit(job_id=ours.pk, worker_id="task-1")  # launched here: never imported

    imported = services.jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)
    again = services.jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)

    assert sorted(job.provider_job_id for job in imported) == sorted(job.id for job in old)
    assert again == []
    for job in imported:
        job.refresh_from_db()
        assert job.imported
        assert job.status == JobStatus.SUCCEEDED
        assert (
            MetricPoint.objects.filter(job=job).count()
            == standin.state.jobs[job.provider_job_id].obj["_total_steps"]
        )
        assert FineTunedModel.objects.filter(job=job).exists()


def test_the_reaper_restarts_lost_starts_and_stuck_cancels_and_polls_silent_jobs(
    cast, standin, openai_credential
):
    lost_start = queued_job(cast, status_changed_at=timezone.now())  # launched, but its message was lost
    silent = queued_job(cast)
    services.job_submit(job_id=silent.pk, worker_id="task-1")
    stuck_cancel = queued_job(cast)
    services.job_submit(job_id=stuck_cancel.pk, worker_id="task-2")
    stuck_cancel.refresh_from_db()
    job_cancel(job=stuck_cancel, actor=cast.member)  # its cancel task never ran
    FineTuningJob.objects.filter(pk=silent.pk).update(next_poll_at=timezone.now() + timedelta(hours=6))

    assert services.jobs_reap() == services.ReapResult(resubmit=[], recancel=[], repoll=[])
    later = timezone.now() + timedelta(hours=2)
    result = services.jobs_reap(now=later)

    assert result.resubmit == [lost_start.pk]
    assert result.recancel == [stuck_cancel.pk]
    assert result.repoll == [silent.pk]
    silent.refresh_from_db()
    assert silent.next_poll_at == later


def test_a_line_in_the_wrong_format_for_the_method_fails_at_openai_with_its_number(
    cast, standin, openai_credential
):
    chat_data = make_valid_version(cast.project)  # chat lines, but launched as DPO
    job = queued_job(cast, method="dpo", base_model="gpt-4.1-mini-2025-04-14", training_version=chat_data)
    services.job_submit(job_id=job.pk, worker_id="task-1")

    job = follow(standin, job)

    assert job.status == JobStatus.FAILED
    assert "Example 1: is missing input, preferred_output, non_preferred_output." in job.error_message
    assert "validation report" in job.error_hint


@pytest.mark.parametrize(
    ("message", "code", "hint_word"),
    [
        (
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "credit",
        ),
        ("Incorrect API key provided: sk-abc.", "invalid_api_key", "refused the credential"),
        ("You do not have access to fine-tune this model.", "", "refused the credential"),
        (
            "Model gpt-5 is not available for fine-tuning or does not exist.",
            "model_not_available",
            "base model",
        ),
        ("Something else entirely.", "", ""),
    ],
)
def test_known_causes_get_a_plain_language_hint(message, code, hint_word):
    hint = services.hint_for(message, code)
    assert (hint_word in hint) if hint_word else hint == ""


def test_an_exhausted_quota_fails_the_job_instead_of_retrying(cast, standin, openai_credential):
    job = queued_job(cast)
    standin.state.faults.statuses.append(("POST", "/fine_tuning/jobs", 429, {}, "insufficient_quota"))

    services.job_submit(job_id=job.pk, worker_id="task-1")

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("You exceeded your current quota")
    assert "out of credit" in job.error_hint
    assert jobs_at(standin) == []
