from __future__ import annotations

import contextlib
import json


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


COLOURS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange", "pink", "brown"]


def chat_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"What colour is item {i}?"},
                    {"role": "assistant", "content": f"Item {i} is {COLOURS[i % 10]}."},
                ]
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()


def dpo_jsonl(indices) -> bytes:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Colour of item {i}?"}]},
                "preferred_output": [{"role": "assistant", "content": COLOURS[i % 10]}],
                "non_preferred_output": [{"role": "assistant", "content": "I do not know, sorry."}],
            }
        )
        for i in indices
    ]
    return ("\n".join(lines) + "\n").encode()
