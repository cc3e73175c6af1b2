from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from finetune_portal.jobs.list_filters import JobFilterForm
from finetune_portal.jobs.selectors.lists import job_progress, jobs_for_project
from finetune_portal.jobs.services import metric_points_record
from tests.factories import make_dataset, make_job, make_version


def record_steps(job, steps, **extra):
    metric_points_record(job=job, points=[{"step": s, "train_loss": 2.0 / (1 + s), **extra} for s in steps])


class TestProgress:
    @pytest.mark.django_db
    def test_time_left_and_cost_so_far_follow_the_share_of_steps_done(self, cast):
        started = timezone.now() - timedelta(minutes=10)
        job = make_job(
            cast.project,
            status="running",
            started_at=started,
            estimated_cost=Decimal("8.00"),
            hyperparameters={"n_epochs": 4},
        )
        record_steps(job, range(1, 101), total_steps=400)

        progress = job_progress(job, now=started + timedelta(minutes=10))

        assert progress.last_step == 100
        assert progress.total_steps == 400
        assert progress.fraction_done == 0.25
        assert progress.time_left == timedelta(minutes=30)
        assert progress.cost_so_far == Decimal("2.00")
        assert progress.cost_is_final is False
        assert progress.steps_per_epoch == 100

    @pytest.mark.django_db
    def test_a_job_that_finished_between_polls_counts_from_its_hand_over(self, cast):
        from finetune_portal.jobs.services import job_transition

        job = make_job(cast.project, status="queued")
        job_transition(job=job, to="validating_files")
        handed_over = job.transitions.get(to_status="validating_files").created_at
        job_transition(job=job, to="submitted")
        job_transition(job=job, to="succeeded")  # the provider finished before the next poll

        progress = job_progress(job)

        assert job.started_at is None
        assert progress.elapsed == job.finished_at - handed_over

    @pytest.mark.django_db
    def test_a_recorded_epoch_beats_the_estimate_from_settings(self, cast):
        job = make_job(cast.project, status="running", hyperparameters={"n_epochs": 4})
        metric_points_record(job=job, points=[{"step": 30, "epoch": 1.5, "train_loss": 0.5}])

        assert job_progress(job).steps_per_epoch == 20

    @pytest.mark.django_db
    def test_the_actual_cost_once_known_is_shown_as_final(self, cast):
        job = make_job(cast.project, status="succeeded", actual_cost=Decimal("3.21"))
        progress = job_progress(job)
        assert progress.cost_so_far == Decimal("3.21")
        assert progress.cost_is_final is True
        assert progress.time_left is None


class TestRunsList:
    @pytest.fixture
    def runs(self, cast):
        data = make_dataset(cast.project, name="reviews")
        version = make_version(data)
        now = timezone.now()
        a = make_job(
            cast.project,
            name="a",
            created_by=cast.member,
            status="succeeded",
            estimated_cost=Decimal("5"),
            started_at=now - timedelta(hours=3),
            finished_at=now,
        )
        b = make_job(
            cast.project,
            name="b",
            created_by=cast.ml_lead,
            status="failed",
            provider="local_peft",
            base_model="Qwen/Qwen2.5-0.5B",
            training_version=version,
            actual_cost=Decimal("1"),
            started_at=now - timedelta(hours=1),
            finished_at=now,
        )
        c = make_job(cast.project, name="c", created_by=cast.member, status="running")
        metric_points_record(
            job=a,
            points=[
                {"step": 1, "valid_loss": 0.3, "full_valid_loss": 0.9},
                {"step": 2, "valid_loss": 0.1, "full_valid_loss": 0.7},
                {"step": 3, "valid_loss": 0.2, "full_valid_loss": 0.8},
            ],
        )
        metric_points_record(job=b, points=[{"step": 1, "valid_loss": 0.5}, {"step": 2, "valid_loss": 0.6}])
        return a, b, c

    def listed(self, cast, **query):
        form = JobFilterForm(query, project=cast.project)
        return [job.name for job in form.filter(jobs_for_project(cast.project))]

    @pytest.mark.django_db
    def test_validation_loss_prefers_the_full_set_figure(self, cast, runs):
        jobs = {
            job.name: job
            for job in JobFilterForm({}, project=cast.project).filter(jobs_for_project(cast.project))
        }
        assert jobs["a"].final_valid_loss == 0.8
        assert jobs["a"].best_valid_loss == 0.7
        assert jobs["b"].final_valid_loss == 0.6
        assert jobs["b"].best_valid_loss == 0.5
        assert jobs["c"].final_valid_loss is None

    @pytest.mark.django_db
    def test_sorting(self, cast, runs):
        assert self.listed(cast, sort="best_valid_loss") == ["b", "a", "c"]
        assert self.listed(cast, sort="final_valid_loss") == ["b", "a", "c"]
        # b's cost is actual, a's only estimated: actual costs come first either way.
        assert self.listed(cast, sort="-cost") == ["b", "a", "c"]
        assert self.listed(cast, sort="cost") == ["b", "a", "c"]
        assert self.listed(cast, sort="-duration") == ["a", "b", "c"]
        assert self.listed(cast, sort="created") == ["a", "b", "c"]
        assert self.listed(cast) == ["c", "b", "a"]

    @pytest.mark.django_db
    def test_filters(self, cast, runs):
        _, b, _ = runs
        assert self.listed(cast, status="running") == ["c"]
        assert self.listed(cast, provider="local_peft") == ["b"]
        assert self.listed(cast, base_model="Qwen/Qwen2.5-0.5B") == ["b"]
        assert self.listed(cast, dataset=str(b.training_version.dataset_id)) == ["b"]
        assert self.listed(cast, creator=str(cast.member.pk), sort="created") == ["a", "c"]

    @pytest.mark.django_db
    def test_an_unknown_filter_value_is_ignored(self, cast, runs):
        assert self.listed(cast, status="exploded", sort="nonsense") == ["c", "b", "a"]


@pytest.mark.django_db
def test_actual_costs_and_estimates_sort_apart(cast):
    for name, actual, estimate in [("x", "4", None), ("y", None, "9"), ("z", "2", "7"), ("w", None, "1")]:
        make_job(
            cast.project,
            name=name,
            actual_cost=Decimal(actual) if actual else None,
            estimated_cost=Decimal(estimate) if estimate else None,
        )
    make_job(cast.project, name="free")

    def listed(sort):
        return [
            job.name
            for job in JobFilterForm({"sort": sort}, project=cast.project).filter(
                jobs_for_project(cast.project)
            )
        ]

    assert listed("cost") == ["z", "x", "w", "y", "free"]
    assert listed("-cost") == ["x", "z", "y", "w", "free"]
    kinds = {
        job.name: job.cost_kind
        for job in JobFilterForm({}, project=cast.project).filter(jobs_for_project(cast.project))
    }
    assert kinds == {"x": 0, "z": 0, "y": 1, "w": 1, "free": 2}
