"""Fixtures for the local GPU provider: small chat and preference data, a real Celery worker thread."""

from __future__ import annotations

import threading
import time

import pytest

from tests.celery_support import memory_broker_if_filesystem
from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import chat_jsonl, dpo_jsonl


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One cache for the session, so the tiny model for the same data is built once."""
    return tmp_path_factory.mktemp("peft-models")


@pytest.fixture(autouse=True)
def _peft_settings(settings, tmp_path, model_cache):
    settings.PEFT_MODEL_CACHE = model_cache
    settings.PEFT_WORK_DIR = tmp_path / "runs"
    settings.PEFT_HEARTBEAT_SECONDS = 0.5
    settings.PEFT_STALE_AFTER_SECONDS = 600


@pytest.fixture
def chat_versions(cast):
    """50 training and 10 validation conversations, both valid."""
    dataset = make_dataset(cast.project, name="colours", kind="chat", created_by=cast.member)
    train = make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    valid = make_version(
        dataset, content=chat_jsonl(range(50, 60)), example_count=10, split_role="validation"
    )
    return train, valid


@pytest.fixture
def dpo_versions(cast):
    dataset = make_dataset(cast.project, name="colour preferences", kind="dpo", created_by=cast.member)
    train = make_version(dataset, content=dpo_jsonl(range(8)), example_count=8)
    valid = make_version(dataset, content=dpo_jsonl(range(8, 12)), example_count=4, split_role="validation")
    return train, valid


class TaskWatcher:
    """Counts tasks the worker finished, so a test can wait for one without polling the database."""

    def __init__(self):
        self.finished: list[tuple[str, object]] = []
        self._changed = threading.Condition()

    def on_postrun(self, sender=None, task=None, retval=None, **kwargs):
        from django.db import connections

        # Runs in the worker thread: leave no connection open there, or PostgreSQL cannot drop the
        # test database at the end of the session.
        connections.close_all()
        if task is not None and task.name.startswith("finetune_portal.notifications."):
            return  # a job's end also sends its notifications on the default queue; the tests count training
        with self._changed:
            self.finished.append((task.name if task else "", retval))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 120) -> list:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.finished) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {len(self.finished)} of {count} tasks finished in {timeout}s")
                self._changed.wait(left)
            return list(self.finished)


@pytest.fixture(scope="module")
def _gpu_worker_thread(django_db_setup, django_db_blocker):
    """A real Celery worker thread consuming the gpu and default queues, shared by a module's tests.

    It is started the way `celery worker` starts, including the worker_ready signal that reports the
    worker's hardware.
    """
    from celery.contrib.testing.worker import start_worker
    from celery.contrib.testing.worker import test_worker_started as started_signal
    from celery.signals import task_postrun, worker_ready

    from finetune_portal.celery import app

    watcher = TaskWatcher()

    def announce_ready(sender=None, worker=None, consumer=None, **kwargs):
        from django.db import connections

        worker_ready.send(sender=consumer)
        connections.close_all()

    task_postrun.connect(watcher.on_postrun, weak=False)
    started_signal.connect(announce_ready, weak=False)
    try:
        with memory_broker_if_filesystem(app):
            with app.connection_for_write() as conn:
                for queue in ("gpu", "default"):
                    # Leftovers of an interrupted run would name job ids that this test database reuses.
                    conn.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
                    conn.default_channel.queue_purge(queue)
            with (
                django_db_blocker.unblock(),
                start_worker(
                    app,
                    pool="solo",
                    perform_ping_check=False,
                    shutdown_timeout=60,
                    queues=["gpu", "default"],
                    hostname="gpu-test@localhost",
                ) as worker,
            ):
                worker.watcher = watcher
                yield worker
    finally:
        task_postrun.disconnect(watcher.on_postrun)
        started_signal.disconnect(announce_ready)


@pytest.fixture
def gpu_worker(transactional_db, _gpu_worker_thread):
    """The module's worker, with a fresh count of finished tasks for this test."""
    _gpu_worker_thread.watcher.finished.clear()
    return _gpu_worker_thread


@pytest.fixture
def fake_hub():
    """Route huggingface_hub's HTTP client to an in-process fake hub for this test."""
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    from tests.providers.peft.fake_hub import FakeHub

    hub = FakeHub()
    huggingface_hub.set_client_factory(hub.client)
    try:
        yield hub
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
