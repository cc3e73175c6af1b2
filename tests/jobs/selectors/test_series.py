from __future__ import annotations

import math
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from finetune_portal.jobs.selectors.series import (
    POINTS_CAP,
    checkpoint_steps,
    downsample_min_max,
    metric_points_full_view,
    metric_points_in_range,
    metric_points_overview,
    metric_points_since,
)
from finetune_portal.jobs.services import checkpoint_record, metric_points_record
from tests.factories import make_job


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


@pytest.mark.django_db
def test_checkpoints_are_listed_by_step(cast):
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
        job = make_job(cast.project, status="running")
        record_steps(job, range(10, 21))
        metric_points_full_view(job)
        metric_points_record(job=job, points=[{"step": 3, "train_loss": 7.0}])

        view = metric_points_full_view(job)

        assert view.series["train_loss"][0] == [3, *range(10, 21)]
