"""Running real Celery workers inside the test process without one test's broker leaking into the next."""

from __future__ import annotations

import contextlib
import time

from django.db import OperationalError

# Nothing listens on port 1: a broker that is down, refusing connections at once.
DEAD_BROKER = "redis://127.0.0.1:1/0"


def _drop_pools(app) -> None:
    # The app caches connection and producer pools made for the broker it first used.
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextlib.contextmanager
def broker_for_test(app, url: str | None):
    """Run with the app on broker ``url`` (None keeps the configured one), then restore it.

    Also restores the set of queues workers consume: ``start_worker(queues=...)`` narrows it for every
    later worker in the process, which would leave a later test's messages unconsumed.
    """
    keys = ("broker_url", "broker_transport", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}
    if url is not None:
        app.conf.update(broker_url=url, broker_transport=None, broker_transport_options={})
        _drop_pools(app)
    try:
        yield app
    finally:
        app.amqp.queues.select(list(app.amqp.queues))
        if url is not None:
            app.conf.update(saved)
            _drop_pools(app)


def memory_broker_if_filesystem(app):
    """The filesystem broker is shared with a developer's `make run`; tests keep such messages in memory.
    A real broker (Redis in CI) is used as it is."""
    return broker_for_test(app, "memory://" if str(app.conf.broker_url).startswith("filesystem://") else None)


def wait_for(predicate, timeout: float = 20.0) -> None:
    """Wait for a worker thread's effect. SQLite's shared in-memory test database can answer "table is
    locked" while another thread writes; that is a reason to look again, not a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OperationalError:
            pass
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def task_sends(callbacks) -> list:
    """The on-commit callbacks that hand work to a queue, leaving out the live pages' notices (published
    on commit too when Redis carries them)."""
    return [
        callback for callback in callbacks if not callback.__qualname__.startswith("live_publish_on_commit")
    ]
