"""The job page is built from live parts shared by every viewer until the job changes, and opening it
costs the same few queries however long the run grows."""

from __future__ import annotations

import contextlib
import re

import pytest
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from finetune_portal.jobs.services import (
    checkpoint_record,
    job_event_record,
    job_transition,
    metric_points_record,
)
from tests.factories import PASSWORD, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def page(client, job):
    return client.get(reverse("jobs:detail", args=[job.project.slug, job.pk]))


@contextlib.contextmanager
def counting_queries():
    """Yields a list that holds, once the block ends, the number of queries run in it. (Each request
    empties the query log as it starts, so the log is read at once, from empty.)"""
    reset_queries()
    count: list[int] = []
    with CaptureQueriesContext(connection) as captured:
        yield count
    count.append(len(captured.captured_queries))


def queries_of(client, job) -> int:
    with counting_queries() as count:
        assert page(client, job).status_code == 200
    return count[0]


def csrf_tokens(content: bytes) -> list[str]:
    return re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', content.decode())


def grow(job, *, points: int, events: int, checkpoints: int, first_step: int = 1) -> None:
    metric_points_record(
        job=job,
        points=[
            {"step": step, "train_loss": 1 / step, "valid_loss": 1 / step if step % 5 == 0 else None}
            for step in range(first_step, first_step + points)
        ],
    )
    for n in range(events):
        job_event_record(job=job, message=f"event {first_step}-{n}")
    for n in range(checkpoints):
        checkpoint_record(job=job, step=first_step + n, provider_checkpoint_id=f"ckpt-{first_step}-{n}")


class TestSharedParts:
    def test_a_second_viewer_is_served_the_shared_parts_with_their_own_token(self, client, cast):
        job = make_job(cast.project, name="shared", created_by=cast.ml_lead, status="running")
        client.login(username=cast.ml_lead.username, password=PASSWORD)
        first_queries = queries_of(client, job)
        browser = Client(enforce_csrf_checks=True)
        browser.login(username=cast.admin.username, password=PASSWORD)

        with counting_queries() as second_queries:
            second = page(browser, job)
        # The cancel form works without JavaScript: posted with the token this viewer's page carries.
        cancel_url = reverse("jobs:cancel", args=[cast.project.slug, job.pk])
        cancel_form = second.content.decode().split(f'action="{cancel_url}"', 1)[1].split("</form>", 1)[0]
        [token] = csrf_tokens(cancel_form.encode())
        cancelled = browser.post(cancel_url, {"csrfmiddlewaretoken": token})

        # No events, timeline, progress or checkpoint reads: the parts come from the first rendering.
        assert second_queries[0] < first_queries
        assert b"Cancel job" in second.content
        assert b"<!--csrf-->" not in second.content
        assert cancelled.status_code == 302
        job.refresh_from_db()
        assert job.status in ("cancelling", "cancelled")

    def test_a_status_change_refreshes_the_page_a_viewer_opens_next(self, member_client, cast):
        job = make_job(cast.project, status="running", created_by=cast.member)
        before = page(member_client, job).content.decode()

        job_transition(job=job, to="failed", reason="Out of memory at the provider")
        after = page(member_client, job).content.decode()

        assert "Cancel job" in before
        assert "Out of memory at the provider" in after
        assert "Cancel job" not in after
        assert 'hx-trigger="live-changed"' not in after

    def test_a_new_event_and_checkpoint_appear_on_the_next_page_view(self, member_client, cast):
        job = make_job(cast.project, status="running", created_by=cast.member)
        page(member_client, job)

        job_event_record(job=job, message="Epoch 1 done")
        checkpoint_record(job=job, step=40, provider_checkpoint_id="ckpt-step-40")
        content = page(member_client, job).content.decode()

        assert "Epoch 1 done" in content
        assert "ckpt-step-40" in content

    def test_who_may_not_cancel_never_gets_the_cancel_button_from_the_shared_part(self, client, cast):
        job = make_job(cast.project, name="leads-run", created_by=cast.ml_lead, status="running")
        client.login(username=cast.ml_lead.username, password=PASSWORD)
        assert b"Cancel job" in page(client, job).content

        client.login(username=cast.member.username, password=PASSWORD)
        content = page(client, job).content

        assert b"Cancel job" not in content


class TestBoundedQueries:
    def test_the_job_page_costs_the_same_queries_as_the_run_grows(self, member_client, cast):
        job = make_job(cast.project, status="running", created_by=cast.member)
        grow(job, points=3, events=1, checkpoints=1)
        small = queries_of(member_client, job)
        grow(job, points=400, events=30, checkpoints=12, first_step=10)

        # A fresh rendering of every part (the run changed) still reads a fixed set of rows.
        large = queries_of(member_client, job)

        assert large == small

    def test_the_runs_list_costs_the_same_queries_for_one_running_run_or_many(self, member_client, cast):
        url = reverse("jobs:list", args=[cast.project.slug])
        first = make_job(cast.project, status="running", created_by=cast.member)
        grow(first, points=5, events=0, checkpoints=0)
        with counting_queries() as one:
            member_client.get(url)
        for n in range(6):
            job = make_job(cast.project, status="running", created_by=cast.member, name=f"run {n}")
            grow(job, points=5 + n, events=0, checkpoints=0)

        with counting_queries() as many:
            response = member_client.get(url)

        assert response.status_code == 200
        assert response.content.decode().count('data-figure="run-progress"') == 7
        assert many == one


class TestSharedRunsList:
    def test_a_second_viewer_gets_the_shared_rows_and_a_status_move_refreshes_them(self, client, cast):
        job = make_job(cast.project, name="watched", created_by=cast.member, status="running")
        url = reverse("jobs:list", args=[cast.project.slug])
        client.login(username=cast.member.username, password=PASSWORD)
        with counting_queries() as first:
            client.get(url)
        client.login(username=cast.ml_lead.username, password=PASSWORD)

        with counting_queries() as second:
            shared = client.get(url).content.decode()
        job_transition(job=job, to="failed", reason="Out of memory")
        moved = client.get(url).content.decode()

        # No count, rows or progress reads for the second viewer: the rows come from the first rendering.
        assert second[0] < first[0]
        assert "watched" in shared
        assert "Running" in shared
        assert "Failed" in moved
