from __future__ import annotations

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from finetune_portal.celery import QUEUES, broker_send, queue_waiting_count
from finetune_portal.celery import app as celery_app
from finetune_portal.core.tasks import ping
from tests.celery_support import DEAD_BROKER, broker_for_test, memory_broker_if_filesystem


def test_provider_tasks_are_routed_to_their_queues():
    route = celery_app.amqp.router.route
    assert route({}, "finetune_portal.providers.openai.tasks.job_submit_task")["queue"].name == "openai"
    assert route({}, "finetune_portal.providers.peft.tasks.job_train_task")["queue"].name == "gpu"
    assert route({}, "finetune_portal.core.tasks.ping")["queue"].name == "default"
    assert set(QUEUES) == {q.name for q in celery_app.conf.task_queues}


def test_tasks_survive_a_lost_worker():
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.task_serializer == "json"


@pytest.mark.redis
@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the round trip runs on real Redis"
)
def test_a_task_round_trips_through_redis_and_a_real_worker():
    assert celery_app.conf.broker_url.startswith("redis://")
    token = uuid.uuid4().hex
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = ping.delay(token)
        assert result.get(timeout=20) == f"pong:{token}"


def test_the_messages_waiting_in_a_queue_are_counted_on_the_real_broker():
    queue = f"count-{uuid.uuid4().hex[:8]}"
    with memory_broker_if_filesystem(celery_app):
        assert queue_waiting_count(queue) == 0  # never declared: nothing waits in it
        for _ in range(3):
            ping.apply_async(("x",), queue=queue)
        try:
            assert queue_waiting_count(queue) == 3
        finally:
            with celery_app.connection_for_write() as conn:
                conn.default_channel.queue_purge(queue)


def test_a_broker_that_is_down_is_reported_not_raised():
    with broker_for_test(celery_app, DEAD_BROKER):
        assert broker_send(lambda: ping.delay("x"), what="a ping") is False
        assert queue_waiting_count("gpu") is None


def test_redis_redelivers_a_task_only_after_the_longest_task_could_have_run(settings, monkeypatch):
    from finetune_portal import celery as celery_module
    from finetune_portal.providers.peft.tasks import job_train_task

    settings.PEFT_TRAINING_TIME_LIMIT_SECONDS = 48 * 3600
    longest = max(job_train_task.time_limit, celery_app.conf.task_time_limit)
    assert celery_module.visibility_timeout_seconds() >= longest + 30 * 60  # with room to start it

    settings.PEFT_TRAINING_TIME_LIMIT_SECONDS = 3 * 24 * 3600  # a site that allows longer runs
    assert celery_module.visibility_timeout_seconds() >= 3 * 24 * 3600 + 300 + 30 * 60

    with broker_for_test(celery_app, "redis://127.0.0.1:6379/0"):
        celery_module._configure_redis_transport()
        options = celery_app.conf.broker_transport_options
        assert options["visibility_timeout"] == celery_module.visibility_timeout_seconds()
