from __future__ import annotations

import contextlib


def use_broker(app, url: str) -> None:
    """Point the app at another broker, dropping the connection pools made for the old one."""
    app.conf.broker_url = url
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@contextlib.contextmanager
def in_memory_broker_if_filesystem(app):
    """The filesystem broker is shared with a developer's `make run`; tests keep their messages in memory.

    (It can also hand a consumer a message file before the producer has written it.)
    """
    swapped = str(app.conf.broker_url).startswith("filesystem://")
    original = app.conf.broker_url
    if swapped:
        use_broker(app, "memory://")
    try:
        yield
    finally:
        if swapped:
            use_broker(app, original)
