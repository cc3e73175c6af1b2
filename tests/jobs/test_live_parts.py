"""The job page's parts (and the runs list's rows) travel inside their live events: rendered for the
viewer's permissions, sent only when they changed, and named instead of carried when too big, so an open
page asks for nothing."""

from __future__ import annotations

import asyncio
import html
import os
import re
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.test import AsyncClient, Client
from django.urls import reverse

from finetune_portal.core.live import parts as live_parts
from finetune_portal.jobs.selectors.live import runs_live_state
from finetune_portal.jobs.services import job_event_record, job_transition
from tests.factories import make_job
from tests.jobs.test_live_stream import Stream, record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_redis(settings):
    """Without Redis each process reads the watched jobs once a second (a test may set it again)."""
    settings.LIVE_REDIS_URL = ""


@pytest.fixture
def running(cast):
    # Launched by the ML lead: a plain member of the project may watch it but not cancel it.
    job = make_job(cast.project, created_by=cast.ml_lead, status="running")
    record(job, 1)
    return job


def page_stream_url(user, job) -> str:
    """The stream URL the job page itself opens (it names the parts version the page was built with)."""
    client = Client()
    client.force_login(user)
    content = client.get(reverse("jobs:detail", args=[job.project.slug, job.pk])).content.decode()
    return html.unescape(re.search(r'data-live-url="([^"]+)"', content).group(1))


async def open_page_stream(user, url: str, last_event_id: str = "") -> Stream:
    client = AsyncClient()
    await client.aforce_login(user)
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    return Stream(response)


def events_after(user, job, *changes, last_event_id: str = "", url: str = "") -> list[dict]:
    """The events a job page of ``user`` receives: the first as it opens, then one per change."""
    url = url or page_stream_url(user, job)

    async def scenario():
        stream = await open_page_stream(user, url, last_event_id)
        events = [await stream.next_event()]
        for change in changes:
            await sync_to_async(change)()
            events.append(await stream.next_event())
        await stream.close()
        return events

    return async_to_sync(scenario)()


def new_event(job, message: str):
    return lambda: job_event_record(job=job, message=message)


class TestPartsInTheEvent:
    def test_the_page_is_not_sent_the_parts_it_was_built_with(self, cast, running):
        (opened,) = events_after(cast.member, running)
        assert "part_html" not in opened["data"]

    def test_a_change_carries_the_parts_as_the_viewer_may_see_them(self, cast, running):
        lead = events_after(cast.ml_lead, running, new_event(running, "Step 2 done"))[-1]["data"]
        member = events_after(cast.member, running, new_event(running, "Step 3 done"))[-1]["data"]

        assert set(lead["part_html"]) == {"status", "events", "outputs"}
        assert "Step 2 done" in lead["part_html"]["events"]
        assert "Cancel job" in lead["part_html"]["status"]
        # A viewer who may not cancel never receives the button.
        assert "Step 3 done" in member["part_html"]["events"]
        assert "Cancel job" not in member["part_html"]["status"]
        assert (
            reverse("jobs:cancel", args=[cast.project.slug, running.pk]) not in member["part_html"]["status"]
        )
        # The forms' token slot is left empty: htmx posts with the page's own token.
        assert "<!--csrf-->" not in lead["part_html"]["status"]
        assert "csrfmiddlewaretoken" not in lead["part_html"]["status"]

    def test_the_carried_part_is_the_one_a_refresh_would_serve(self, cast, running):
        carried = events_after(cast.ml_lead, running, new_event(running, "Step 2 done"))[-1]["data"]
        cache.clear()
        client = Client()
        client.force_login(cast.ml_lead)
        url = reverse("jobs:detail", args=[cast.project.slug, running.pk])
        for part in ("status", "events", "outputs"):
            served = client.get(f"{url}?part={part}", headers={"HX-Request": "true"})
            assert carried["part_html"][part] == served.content.decode()

    def test_a_part_that_did_not_change_is_not_sent_again(self, cast, running):
        events = events_after(
            cast.ml_lead, running, new_event(running, "Step 2 done"), new_event(running, "Step 3 done")
        )
        first, second = events[1]["data"], events[2]["data"]
        assert "outputs" in first["part_html"]
        assert "Step 3 done" in second["part_html"]["events"]
        assert "outputs" not in second["part_html"]
        assert "parts_to_ask" not in second

    def test_a_status_change_carries_the_new_status(self, cast, running):
        moved = events_after(
            cast.ml_lead, running, lambda: job_transition(job=running, to="succeeded", reason="Done")
        )[-1]["data"]
        assert moved["final"] is True
        assert "Succeeded" in moved["part_html"]["status"]
        assert "Cancel job" not in moved["part_html"]["status"]

    def test_a_part_too_big_to_carry_is_named_for_the_page_to_ask(self, cast, running, monkeypatch):
        monkeypatch.setattr(live_parts, "INLINE_PART_MAX_BYTES", 600)
        moved = events_after(cast.ml_lead, running, new_event(running, "x" * 700))[-1]["data"]
        assert "events" in moved["parts_to_ask"]
        assert "events" not in moved["part_html"]
        assert "status" in moved["part_html"] or "status" in moved["parts_to_ask"]

    def test_a_comparison_stream_carries_no_parts(self, cast, running):
        other = make_job(cast.project, status="running")
        url = reverse("jobs:live", args=[cast.project.slug]) + f"?jobs={running.pk},{other.pk}"

        async def scenario():
            stream = await open_page_stream(cast.member, url)
            await stream.next_event()
            await stream.next_event()
            await sync_to_async(job_event_record)(job=running, message="Step 2 done")
            event = await stream.next_event()
            await stream.close()
            return event

        assert "part_html" not in async_to_sync(scenario)()["data"]
        client = Client()
        client.force_login(cast.member)
        assert client.get(f"{url}&parts=x").status_code == 400

    def test_a_reconnecting_page_gets_the_parts_that_moved_while_it_was_away(self, cast, running):
        url = page_stream_url(cast.member, running)
        (opened,) = events_after(cast.member, running, url=url)
        job_event_record(job=running, message="Missed while away")
        # The browser reconnects to the same address, with the id of the last event it received.
        (resumed,) = events_after(cast.member, running, last_event_id=opened["id"], url=url)
        assert "Missed while away" in resumed["data"]["part_html"]["events"]


class TestRunsListRows:
    def test_a_change_carries_the_rows_for_the_lists_filters(self, cast):
        running = make_job(cast.project, name="running-run", created_by=cast.member, status="running")
        make_job(cast.project, name="queued-run", created_by=cast.member, status="queued")
        version = runs_live_state(cast.project.pk)["version"]
        base = reverse("jobs:runs_live", args=[cast.project.slug])

        async def rows_after_a_move(query: str, to: str):
            client = AsyncClient()
            await client.aforce_login(cast.member)
            url = f"{base}?{urlencode({'parts': version, 'query': query})}"
            stream = Stream(await client.get(url))
            opened = await stream.next_event()
            await sync_to_async(job_transition)(job=running, to=to, reason="Moved")
            moved = await stream.next_event()
            await stream.close()
            return opened["data"], moved["data"]

        opened, moved = async_to_sync(rows_after_a_move)("", "paused")
        assert "part_html" not in opened  # the list already shows these rows
        rows = moved["part_html"]["results"]
        assert "running-run" in rows
        assert "queued-run" in rows
        assert f'data-version="{moved["version"]}"' in rows

        version = moved["version"]
        _, filtered = async_to_sync(rows_after_a_move)("status=running", "running")
        assert "running-run" in filtered["part_html"]["results"]
        assert "queued-run" not in filtered["part_html"]["results"]
        # The same rows a refresh of that list serves.
        cache.clear()
        client = Client()
        client.force_login(cast.member)
        url = reverse("jobs:list", args=[cast.project.slug]) + "?status=running&part=results&v=old"
        assert client.get(url).content.decode() == filtered["part_html"]["results"]


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the event goes through Redis")
def test_a_new_event_published_through_redis_carries_the_parts(cast, running, settings):
    settings.LIVE_REDIS_URL = os.environ["REDIS_URL"]
    import redis

    watcher = redis.Redis.from_url(os.environ["REDIS_URL"])
    url = page_stream_url(cast.member, running)

    async def scenario():
        stream = await open_page_stream(cast.member, url)
        await stream.next_event()
        while not watcher.execute_command("PUBSUB", "NUMPAT"):
            await asyncio.sleep(0.05)
        await sync_to_async(job_event_record)(job=running, message="Published through Redis")
        event = await stream.next_event()
        await stream.close()
        return event

    moved = async_to_sync(scenario)()["data"]
    assert "Published through Redis" in moved["part_html"]["events"]
    assert "Cancel job" not in moved["part_html"]["status"]
