"""The live stream of job pages: who may open it, what it sends when a worker records something, and
how a reconnecting page resumes."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import transaction
from django.test import AsyncClient, Client
from django.urls import reverse

from finetune_portal.core.live import channel, hub, sse
from finetune_portal.jobs.services import job_event_record, job_transition, metric_points_record
from tests.factories import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def stream_url(*jobs) -> str:
    return reverse("jobs:live", args=[jobs[0].project.slug]) + "?jobs=" + ",".join(str(j.pk) for j in jobs)


class Stream:
    """Reads a streaming response event by event, as EventSource does."""

    def __init__(self, response):
        self.chunks = response.streaming_content.__aiter__()
        self.buffer = ""

    async def next_event(self, timeout: float = 10.0) -> dict:
        while True:
            block, found, rest = self.buffer.partition("\n\n")
            if found:
                self.buffer = rest
                fields = {}
                for line in block.split("\n"):
                    name, _, value = line.partition(": ")
                    if name in ("id", "event", "data"):
                        fields[name] = value
                if "event" in fields:
                    fields["data"] = json.loads(fields.get("data", "{}"))
                    return fields
                continue
            chunk = await asyncio.wait_for(self.chunks.__anext__(), timeout)
            self.buffer += chunk.decode() if isinstance(chunk, bytes) else chunk

    async def close(self):
        await self.chunks.aclose()


async def open_stream(user, *jobs, last_event_id: str = "") -> Stream:
    client = AsyncClient()
    await client.aforce_login(user)
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    response = await client.get(stream_url(*jobs), headers=headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    return Stream(response)


@pytest.fixture
def no_redis(settings):
    settings.LIVE_REDIS_URL = ""


@pytest.fixture
def running(cast):
    job = make_job(cast.project, created_by=cast.member, status="running")
    metric_points_record(job=job, points=[{"step": 1, "train_loss": 1.0}])
    return job


def record(job, *steps):
    metric_points_record(job=job, points=[{"step": s, "train_loss": 1.0 / s} for s in steps])


class TestAccess:
    def test_only_members_and_site_admins_may_open_it(self, cast, running, no_redis):
        async def status_for(user):
            client = AsyncClient()
            if user is not None:
                await client.aforce_login(user)
            response = await client.get(stream_url(running))
            if response.streaming:
                await response.streaming_content.aclose()
            return response.status_code

        assert async_to_sync(status_for)(cast.outsider) == 404
        assert async_to_sync(status_for)(None) == 302  # to the login page
        assert async_to_sync(status_for)(cast.member) == 200
        assert async_to_sync(status_for)(cast.site_admin) == 200

    def test_a_job_of_another_project_is_not_found(self, cast, running, no_redis):
        foreign = make_job(cast.other_project, status="running")

        async def status():
            client = AsyncClient()
            await client.aforce_login(cast.member)
            url = reverse("jobs:live", args=[cast.project.slug]) + f"?jobs={running.pk},{foreign.pk}"
            return (await client.get(url)).status_code

        assert async_to_sync(status)() == 404

    @pytest.mark.parametrize("ids", ["", "x", ",".join(str(n) for n in range(1, 13))])
    def test_a_bad_job_list_gets_a_clear_answer(self, cast, running, ids):
        client = Client()
        client.force_login(cast.member)
        response = client.get(reverse("jobs:live", args=[cast.project.slug]) + f"?jobs={ids}")
        assert response.status_code == 400

    def test_under_wsgi_it_tells_the_page_to_poll(self, cast, running):
        client = Client()
        client.force_login(cast.member)
        assert client.get(stream_url(running)).status_code == 204
        client.force_login(cast.outsider)
        assert client.get(stream_url(running)).status_code == 404

    def test_logging_out_ends_the_stream(self, cast, running, no_redis, monkeypatch):
        monkeypatch.setattr(sse, "ACCESS_RECHECK_SECONDS", 0.0)
        monkeypatch.setattr(hub, "KEEPALIVE_SECONDS", 0.1)

        async def scenario():
            client = AsyncClient()
            await client.aforce_login(cast.member)
            stream = Stream(await client.get(stream_url(running)))
            assert (await stream.next_event())["event"] == "job"
            await client.alogout()
            ended = await stream.next_event()
            await stream.close()
            return ended

        assert async_to_sync(scenario)()["event"] == "end"


class TestEvents:
    def test_a_recorded_point_arrives_with_its_values_without_redis(self, cast, running, no_redis):
        async def scenario():
            stream = await open_stream(cast.member, running)
            first = await stream.next_event()
            await sync_to_async(record)(running, 2, 3)
            event = await stream.next_event()
            await sync_to_async(job_event_record)(job=running, message="Step 3 done")
            after_event = await stream.next_event()
            await stream.close()
            return first, event, after_event

        first, event, after_event = async_to_sync(scenario)()
        assert first["data"]["last_step"] == 1
        assert event["data"]["last_step"] == 3
        assert event["data"]["points"] == {"after": 1, "series": {"train_loss": [[2, 3], [0.5, 1 / 3]]}}
        assert event["id"] == f"job:{running.pk}:{event['data']['version']}"
        assert after_event["data"]["live"] != event["data"]["live"]

    def test_a_status_change_reaches_a_comparison_stream_of_two_jobs(self, cast, running, no_redis):
        other = make_job(cast.project, status="running")

        async def scenario():
            stream = await open_stream(cast.member, running, other)
            initial = [await stream.next_event(), await stream.next_event()]
            await sync_to_async(job_transition)(job=other, to="succeeded", reason="Done")
            event = await stream.next_event()
            await stream.close()
            return initial, event

        initial, event = async_to_sync(scenario)()
        assert {e["data"]["job"] for e in initial} == {running.pk, other.pk}
        assert event["data"]["job"] == other.pk
        assert event["data"]["final"] is True

    def test_writers_publish_only_once_their_transaction_commits(self, cast, running, settings, monkeypatch):
        settings.LIVE_REDIS_URL = "redis://publishing-is-recorded-here"
        sent = []
        monkeypatch.setattr(channel, "live_publish", lambda *, topic, state: sent.append((topic, state)))

        with transaction.atomic():
            record(running, 2)
            assert sent == []
        # The job's open pages and the project's open runs lists.
        assert [topic for topic, _ in sent] == [f"job:{running.pk}", f"runs:{cast.project.pk}"]
        assert sent[0][1]["last_step"] == 2
        assert sent[0][1]["points"]["after"] == 1

        def fail_after_recording():
            with transaction.atomic():
                record(running, 3)
                raise RuntimeError("the worker failed")

        with pytest.raises(RuntimeError):
            fail_after_recording()
        assert len(sent) == 2  # a rolled-back point is never announced


class TestResume:
    def test_a_reconnecting_page_gets_only_what_moved_since_its_last_event(self, cast, running, no_redis):
        async def scenario():
            stream = await open_stream(cast.member, running)
            seen = await stream.next_event()
            await stream.close()
            # Back with the last id it saw and nothing new: nothing is sent until something happens.
            stream = await open_stream(cast.member, running, last_event_id=seen["id"])
            await sync_to_async(record)(running, 2)
            next_event = await stream.next_event()
            await stream.close()
            # Back with an older id after more happened while it was away: the current state at once.
            await sync_to_async(record)(running, 3, 4)
            stream = await open_stream(cast.member, running, last_event_id=seen["id"])
            caught_up = await stream.next_event()
            await stream.close()
            return next_event, caught_up

        next_event, caught_up = async_to_sync(scenario)()
        assert next_event["data"]["last_step"] == 2
        assert caught_up["data"]["last_step"] == 4
        # The page asks the metrics endpoint for the points after the last it holds.
        client = Client()
        client.force_login(cast.member)
        missed = client.get(reverse("jobs:metrics", args=[cast.project.slug, running.pk]) + "?after_step=1")
        assert missed.json()["series"]["train_loss"][0] == [2, 3, 4]


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the event goes through Redis")
def test_a_point_committed_by_a_worker_reaches_the_stream_through_redis(cast, running, settings):
    settings.LIVE_REDIS_URL = settings.REDIS_URL  # this test process's database (one per xdist worker)

    async def scenario():
        stream = await open_stream(cast.member, running)
        await stream.next_event()
        # The process subscribes as its first stream starts listening; a point recorded before that is
        # not lost (the stream reads the state again once subscribed) but would come without its values.
        while not hub.live_hub().subscribed:
            await asyncio.sleep(0.05)
        await sync_to_async(record)(running, 2)
        first = await stream.next_event()
        await sync_to_async(record)(running, 4)
        second = await stream.next_event()
        await stream.close()
        return first, second

    first, second = async_to_sync(scenario)()
    assert first["data"]["last_step"] == 2
    assert second["data"]["last_step"] == 4
    assert second["data"]["points"] == {"after": 2, "series": {"train_loss": [[4], [0.25]]}}


@pytest.mark.redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the event goes through Redis")
def test_sites_on_two_databases_of_one_redis_server_do_not_hear_each_other(settings, monkeypatch):
    # Pub/sub channels belong to the whole server: the database number in the prefix keeps them apart.
    import uuid
    from urllib.parse import urlsplit

    import redis
    from redis.connection import parse_url

    ours = settings.REDIS_URL
    theirs = urlsplit(ours)._replace(path=f"/{((parse_url(ours).get('db') or 0) + 1) % 16}").geturl()
    topic = f"job:probe-{uuid.uuid4().hex}"  # other test processes publish their own jobs meanwhile
    listeners = {}
    for url in (ours, theirs):
        settings.LIVE_REDIS_URL = url
        pubsub = redis.Redis.from_url(url).pubsub()
        pubsub.psubscribe(channel.live_channel_prefix() + "*")
        assert pubsub.get_message(timeout=10)["type"] == "psubscribe"  # subscribed before anything is sent
        listeners[url] = pubsub

    def publish_as(url, number):
        settings.LIVE_REDIS_URL = url
        monkeypatch.setattr(channel, "_redis_client", None)  # the publisher connects to this site's Redis
        channel.live_publish(topic=topic, state={"number": number})

    def heard(url, count) -> list[int]:
        numbers = []
        while len(numbers) < count:
            message = listeners[url].get_message(timeout=10)
            assert message is not None, f"heard only {numbers}"
            body = json.loads(message["data"]) if message["type"] == "pmessage" else {}
            if body.get("topic") == topic:
                numbers.append(body["state"]["number"])
        return numbers

    publish_as(ours, 1)
    publish_as(theirs, 2)
    publish_as(ours, 3)
    try:
        # Messages arrive in the order they were published: a site that heard the other's would have
        # it among its first.
        assert heard(ours, 2) == [1, 3]
        assert heard(theirs, 1) == [2]
    finally:
        for pubsub in listeners.values():
            pubsub.close()
