from __future__ import annotations

import os
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from finetune_portal.celery import QUEUES
from finetune_portal.celery import app as celery_app
from finetune_portal.core.tasks import ping


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
