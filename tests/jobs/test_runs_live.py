"""The runs list's live stream: who may open it, what moves its version, and the refresh it asks for."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient, Client
from django.urls import reverse

from finetune_portal.jobs.selectors.live import runs_live_state
from finetune_portal.jobs.services import job_create, job_transition, metric_points_record
from tests.factories import make_job
from tests.jobs.test_live_stream import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_redis(settings):
    settings.LIVE_REDIS_URL = ""


def runs_stream_url(project) -> str:
    return reverse("jobs:runs_live", args=[project.slug])


def results_url(project, version: str, query: str = "") -> str:
    return reverse("jobs:list", args=[project.slug]) + f"?{query}part=results&v={version}"


def test_only_members_and_site_admins_may_open_it(cast, no_redis):
    async def status_for(user):
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await client.get(runs_stream_url(cast.project))
        if response.streaming:
            await response.streaming_content.aclose()
        return response.status_code

    assert async_to_sync(status_for)(cast.outsider) == 404
    assert async_to_sync(status_for)(None) == 302
    assert async_to_sync(status_for)(cast.member) == 200
    assert async_to_sync(status_for)(cast.site_admin) == 200
    client = Client()
    client.force_login(cast.member)
    assert client.get(runs_stream_url(cast.project)).status_code == 204  # WSGI: the list polls


def test_new_runs_and_status_moves_reach_an_open_list(cast, no_redis):
    job = make_job(cast.project, created_by=cast.member, status="draft")

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(cast.member)
        stream = Stream(await client.get(runs_stream_url(cast.project)))
        first = await stream.next_event()
        await sync_to_async(job_create)(
            project=cast.project,
            created_by=cast.member,
            provider="openai",
            base_model="gpt-4o-mini-2024-07-18",
        )
        added = await stream.next_event()
        await sync_to_async(job_transition)(job=job, to="queued", reason="Launched")
        moved = await stream.next_event()
        await stream.close()
        return first, added, moved

    first, added, moved = async_to_sync(scenario)()
    assert [e["event"] for e in (first, added, moved)] == ["runs", "runs", "runs"]
    versions = [e["data"]["version"] for e in (first, added, moved)]
    assert len(set(versions)) == 3
    assert moved["id"] == f"runs:{cast.project.pk}:{versions[2]}"


def test_progress_moves_the_version_at_most_once_per_refresh_period(cast, monkeypatch):
    from finetune_portal.jobs.selectors import live as live_selectors

    job = make_job(cast.project, created_by=cast.member, status="running")
    monkeypatch.setattr(live_selectors, "PROGRESS_REFRESH_SECONDS", 10**9)
    metric_points_record(job=job, points=[{"step": 1, "train_loss": 1.0}])
    first = runs_live_state(cast.project.pk)["version"]
    metric_points_record(job=job, points=[{"step": 2, "train_loss": 0.9}])
    assert runs_live_state(cast.project.pk)["version"] == first  # within the same period
    monkeypatch.setattr(live_selectors, "PROGRESS_REFRESH_SECONDS", 1e-6)
    metric_points_record(job=job, points=[{"step": 3, "train_loss": 0.8}])
    assert runs_live_state(cast.project.pk)["version"] != first
    assert runs_live_state(cast.other_project.pk)["version"] == "0-0-0-0"


def test_the_refresh_answers_204_until_the_list_changed(cast):
    job = make_job(cast.project, name="first-run", created_by=cast.member, status="running")
    client = Client()
    client.force_login(cast.member)
    version = runs_live_state(cast.project.pk)["version"]
    assert client.get(results_url(cast.project, version)).status_code == 204

    job_transition(job=job, to="succeeded", reason="Done")
    make_job(cast.project, name="second-run", created_by=cast.member, status="queued")
    refreshed = client.get(results_url(cast.project, version))
    assert refreshed.status_code == 200
    html = refreshed.content.decode()
    assert 'id="runs-results"' in html
    assert "<html" not in html
    assert "second-run" in html
    assert "Succeeded" in html
    # The filters the page shows apply to its refresh too.
    filtered = client.get(results_url(cast.project, version, "status=queued&")).content.decode()
    assert "second-run" in filtered
    assert "first-run" not in filtered
    client.force_login(cast.outsider)
    assert client.get(results_url(cast.project, version)).status_code == 404
