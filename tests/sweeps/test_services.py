"""Creating a sweep through the provider's launch form, its caps, launching the next run, cancelling."""

from __future__ import annotations

from decimal import Decimal

import pytest

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.peft.form_fields import DEFAULTS, DEMO_TINY_SUGGESTED
from finetune_portal.sweeps.models import Sweep, SweepRun
from finetune_portal.sweeps.services import SweepError, sweep_advance, sweep_cancel_rest, sweep_create
from tests.factories import make_dataset, make_version

pytestmark = pytest.mark.django_db


def statuses(sweep) -> list[str]:
    return [
        run.job.status for run in SweepRun.objects.filter(sweep=sweep).select_related("job").order_by("index")
    ]


def test_runs_are_made_by_the_launch_form_with_its_defaults_and_the_swept_values(local_sweep, chat_versions):
    sweep = local_sweep(space={"learning_rate": [1e-3, 5e-3], "lora_rank": [4, 8]}, max_concurrent=4)

    runs = list(SweepRun.objects.filter(sweep=sweep).select_related("job").order_by("index"))
    assert [run.params for run in runs] == [
        {"learning_rate": 1e-3, "lora_rank": 4},
        {"learning_rate": 1e-3, "lora_rank": 8},
        {"learning_rate": 5e-3, "lora_rank": 4},
        {"learning_rate": 5e-3, "lora_rank": 8},
    ]
    job = runs[1].job
    assert job.provider == "local_peft"
    assert (job.training_version, job.validation_version) == chat_versions
    assert job.hyperparameters["learning_rate"] == 1e-3
    assert job.hyperparameters["lora_rank"] == 8
    # Everything not swept is what the browser's form would have sent.
    assert job.hyperparameters["lora_alpha"] == DEFAULTS["lora_alpha"]
    assert job.hyperparameters["gradient_accumulation"] == DEMO_TINY_SUGGESTED["gradient_accumulation"]
    assert job.name == "lr sweep · learning_rate=0.001, lora_rank=8"


def test_only_max_concurrent_runs_start_and_the_rest_wait_as_drafts(local_sweep):
    sweep = local_sweep(max_concurrent=2)

    assert statuses(sweep) == [JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.DRAFT]


def test_when_a_run_ends_the_next_queued_run_launches(local_sweep, django_capture_on_commit_callbacks):
    sweep = local_sweep(max_concurrent=1)
    first = SweepRun.objects.get(sweep=sweep, index=0).job

    with django_capture_on_commit_callbacks(execute=True):
        job_transition(job=first, to=JobStatus.CANCELLED, reason="test")

    assert statuses(sweep) == [JobStatus.CANCELLED, JobStatus.QUEUED, JobStatus.DRAFT]
    # Asking again changes nothing while a slot is taken.
    assert sweep_advance(sweep_id=sweep.pk) == []


def test_a_run_the_launch_form_refuses_saves_nothing(local_sweep):
    with pytest.raises(SweepError, match=r"Run 2 \(lora_rank=0\) is not valid: LoRA rank: Ensure this value"):
        local_sweep(space={"lora_rank": [4, 0]})

    assert not Sweep.objects.exists()
    assert not FineTuningJob.objects.exists()


def test_a_grid_over_the_run_cap_is_refused(local_sweep):
    with pytest.raises(SweepError, match="more than the cap of 2 runs"):
        local_sweep(max_runs=2)

    assert not FineTuningJob.objects.exists()


@pytest.fixture
def priced_version(cast):
    dataset = make_dataset(cast.project, name="reviews", kind="chat", created_by=cast.member)
    return make_version(
        dataset, example_count=100, validation_report={"stats": {"total_tokens": 1_000_000, "examples": 100}}
    )


def _openai_sweep(cast, version, *, cost_cap):
    return sweep_create(
        project=cast.project,
        created_by=cast.member,
        provider="openai",
        name="epochs",
        fixed={"base_model": "gpt-4o-mini-2024-07-18", "method": "sft", "training_version": version.pk},
        space={"n_epochs": [1, 2, 3]},
        strategy="grid",
        max_runs=3,
        max_concurrent=1,
        cost_cap=cost_cap,
    )


def test_an_estimate_over_the_cost_cap_is_refused_up_front(cast, priced_version):
    with pytest.raises(
        SweepError, match=r"The 3 runs are estimated at \$\d+\.\d\d, over the sweep's cap of \$1\.00"
    ):
        _openai_sweep(cast, priced_version, cost_cap=Decimal("1.00"))

    assert not FineTuningJob.objects.exists()
    assert not Sweep.objects.exists()


def test_an_estimate_under_the_cost_cap_goes_ahead_and_is_recorded(cast, priced_version):
    sweep = _openai_sweep(cast, priced_version, cost_cap=Decimal("10000"))

    jobs = FineTuningJob.objects.filter(sweep_run__sweep=sweep)
    assert sweep.estimated_cost == sum(job.estimated_cost for job in jobs)
    assert sweep.estimated_cost > 0


def test_cancel_the_rest_stops_unfinished_runs_once(local_sweep, cast):
    sweep = local_sweep(max_concurrent=1)
    first = SweepRun.objects.get(sweep=sweep, index=0).job
    job_transition(job=first, to=JobStatus.CANCELLED, reason="done")  # a run that already ended
    sweep_advance(sweep_id=sweep.pk)

    assert sweep_cancel_rest(sweep=sweep, actor=cast.member) == 2
    assert statuses(sweep) == [JobStatus.CANCELLED] * 3
    assert sweep_cancel_rest(sweep=sweep, actor=cast.member) == 0
    assert sweep_advance(sweep_id=sweep.pk) == []
