from __future__ import annotations

import math
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from finetune_portal.jobs.list_filters import JobFilterForm
from finetune_portal.jobs.selectors import (
    POINTS_CAP,
    downsample_min_max,
    job_progress,
    jobs_for_project,
    metric_points_in_range,
    metric_points_overview,
    metric_points_since,
)
from finetune_portal.jobs.services import checkpoint_record, metric_points_record
from tests.factories import make_dataset, make_job, make_version


def record_steps(job, steps, **extra):
    metric_points_record(job=job, points=[{"step": s, "train_loss": 2.0 / (1 + s), **extra} for s in steps])


class TestPointsAfterStep:
    @pytest.mark.django_db
    def test_it_returns_only_points_after_the_step_in_order(self, cast):
        job = make_job(cast.project, status="running")
        record_steps(job, [5, 1, 3, 2, 4])

        points, has_more = metric_points_since(job.pk, after_step=2)

        assert points.series["train_loss"][0] == [3, 4, 5]
        assert points.last_step == 5
        assert has_more is False

    @pytest.mark.django_db
    def test_nothing_new_is_an_empty_answer(self, cast):
        job = make_job(cast.project, status="running")
        record_steps(job, range(1, 11))

        points, has_more = metric_points_since(job.pk, after_step=10)

        assert points.last_step is None
        assert points.as_json()["series"] == {}
        assert has_more is False

    @pytest.mark.django_db
    def test_it_never_mixes_in_another_jobs_points(self, cast):
        job = make_job(cast.project, status="running")
        other = make_job(cast.project, status="running")
        record_steps(job, [1, 2])
        record_steps(other, [3, 4])

        points, _ = metric_points_since(job.pk, after_step=0)

        assert points.series["train_loss"][0] == [1, 2]

    @pytest.mark.django_db
    def test_a_viewer_far_behind_catches_up_in_batches(self, cast):
        job = make_job(cast.project, status="running")
        record_steps(job, range(1, 26))

        first, more = metric_points_since(job.pk, after_step=None, limit=10)
        second, _ = metric_points_since(job.pk, after_step=first.last_step, limit=10)

        assert first.series["train_loss"][0] == list(range(1, 11))
        assert more is True
        assert second.series["train_loss"][0] == list(range(11, 21))

    @pytest.mark.django_db
    def test_sparse_validation_points_keep_their_own_steps(self, cast):
        job = make_job(cast.project, status="running")
        metric_points_record(
            job=job,
            points=[
                {"step": 1, "train_loss": 1.0},
                {"step": 2, "train_loss": 0.9, "valid_loss": 1.1},
                {"step": 3, "train_loss": 0.8},
            ],
        )

        points, _ = metric_points_since(job.pk, after_step=0)

        assert points.series["valid_loss"] == ([2], [1.1])
        assert points.series["train_loss"][0] == [1, 2, 3]

    @pytest.mark.django_db
    def test_the_poll_reads_through_the_job_step_index_not_a_scan(self, cast):
        # The cost of "nothing new" must not grow with the job's length: the query has to be a range
        # read on (job, step) with a LIMIT, never a read of all the job's points.
        job = make_job(cast.project, status="running")
        record_steps(job, range(1, 50))

        with CaptureQueriesContext(connection) as queries:
            metric_points_since(job.pk, after_step=40)

        sql = queries.captured_queries[-1]["sql"]
        assert '"step" > 40' in sql
        assert "LIMIT" in sql
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                plan = " ".join(str(row) for row in cursor.fetchall())
            assert "USING INDEX" in plan
            assert "(job_id=? AND step>?)" in plan


class TestDownsampler:
    def test_short_series_come_back_unchanged(self):
        xs, ys = list(range(100)), [float(i) for i in range(100)]
        assert downsample_min_max(xs, ys, cap=2000) == (xs, ys)

    @pytest.mark.parametrize("n", [2001, 4003, 100_000])
    def test_it_never_exceeds_the_cap(self, n):
        rng = random.Random(n)
        xs = list(range(n))
        ys = [rng.random() for _ in xs]

        out_x, out_y = downsample_min_max(xs, ys, cap=POINTS_CAP)

        assert len(out_x) == len(out_y) <= POINTS_CAP
        assert len(out_x) > POINTS_CAP // 2
        assert out_x == sorted(set(out_x))

    def test_it_keeps_first_last_min_and_max_of_every_bucket(self):
        rng = random.Random(7)
        n, cap = 10_000, 400
        xs = list(range(n))
        ys = [math.sin(i / 300) + rng.gauss(0, 0.1) for i in xs]

        out_x, _ = downsample_min_max(xs, ys, cap=cap)

        kept = set(out_x)
        buckets = cap // 4
        width = n / buckets
        for b in range(buckets):
            lo, hi = int(b * width), int((b + 1) * width)
            bucket = range(lo, hi)
            assert lo in kept
            assert hi - 1 in kept
            assert min(bucket, key=ys.__getitem__) in kept
            assert max(bucket, key=ys.__getitem__) in kept

    def test_a_single_spike_survives(self):
        xs = list(range(100_000))
        ys = [1.0] * 100_000
        ys[54_321] = 25.0

        out_x, out_y = downsample_min_max(xs, ys)

        assert 25.0 in out_y
        assert out_x[out_y.index(25.0)] == 54_321
        assert out_x[0] == 0
        assert out_x[-1] == 99_999


class TestOverviewAndRange:
    @pytest.mark.django_db
    def test_the_full_view_is_capped_and_the_range_is_full_resolution(self, cast):
        job = make_job(cast.project, status="running")
        record_steps(job, range(1, 5001))

        overview = metric_points_overview(job.pk, cap=1000)
        zoomed = metric_points_in_range(job.pk, from_step=100, to_step=700, cap=1000)
        wide = metric_points_in_range(job.pk, from_step=1, to_step=4000, cap=1000)

        assert overview.downsampled is True
        assert len(overview.series["train_loss"][0]) <= 1000
        assert overview.series["train_loss"][0][0] == 1
        assert overview.series["train_loss"][0][-1] == 5000
        assert overview.last_step == 5000
        assert zoomed.series["train_loss"][0] == list(range(100, 701))
        assert zoomed.downsampled is False
        assert wide.downsampled is True
        assert len(wide.series["train_loss"][0]) <= 1000
        assert wide.series["train_loss"][0][0] == 1
        assert wide.series["train_loss"][0][-1] == 4000


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
        assert self.listed(cast, sort="-cost") == ["a", "b", "c"]
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
def test_checkpoints_are_listed_by_step(cast):
    from finetune_portal.jobs.selectors import checkpoint_steps

    job = make_job(cast.project, status="running")
    checkpoint_record(job=job, step=200)
    checkpoint_record(job=job, step=100)
    assert checkpoint_steps(job.pk) == [100, 200]


class TestCachedFullView:
    @pytest.fixture(autouse=True)
    def _empty_cache(self):
        from django.core.cache import cache

        cache.clear()
        yield
        cache.clear()

    @pytest.mark.django_db
    def test_new_points_are_added_to_the_cached_view_within_the_cap(self, cast):
        from finetune_portal.jobs.selectors import metric_points_full_view

        job = make_job(cast.project, status="running")
        record_steps(job, range(1, 3001))
        first = metric_points_full_view(job, cap=400)
        record_steps(job, range(3001, 3101))
        metric_points_record(job=job, points=[{"step": 3101, "train_loss": 99.0}])

        with CaptureQueriesContext(connection) as queries:
            updated = metric_points_full_view(job, cap=400)

        xs, ys = updated.series["train_loss"]
        assert len(first.series["train_loss"][0]) <= 400
        assert len(xs) <= 400
        assert xs[0] == 1
        assert xs[-1] == 3101
        assert 99.0 in ys
        assert updated.last_step == 3101
        # One count and one read of the new points; the 3,000 older ones are not read again.
        assert len(queries) == 2
        assert '"step" > 3000' in queries.captured_queries[1]["sql"]

    @pytest.mark.django_db
    def test_an_older_step_stored_late_rebuilds_the_view(self, cast):
        from finetune_portal.jobs.selectors import metric_points_full_view

        job = make_job(cast.project, status="running")
        record_steps(job, range(10, 21))
        metric_points_full_view(job)
        metric_points_record(job=job, points=[{"step": 3, "train_loss": 7.0}])

        view = metric_points_full_view(job)

        assert view.series["train_loss"][0] == [3, *range(10, 21)]
