"""The async side of an event stream under ASGI (api/streaming.py): the lines of the sync iterator, in
order and unchanged, produced in one thread that is not the event loop's, closed there when the reader
goes away, before the response ends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from asgiref.sync import ThreadSensitiveContext

from finetune_portal.api.streaming import IN_FLIGHT, async_lines


class Lines:
    """A sync iterator of numbered lines that notes the thread of each step and of its closing."""

    def __init__(self, count: int | None, *, fail_at: int | None = None, gate: threading.Event | None = None):
        self.count, self.fail_at, self.gate = count, fail_at, gate
        self.threads: set[int] = set()
        self.produced = 0
        self.closed_in: int | None = None
        self.iterator = self._lines()

    def _lines(self) -> Iterator[bytes]:
        try:
            index = 0
            while self.count is None or index < self.count:
                self.threads.add(threading.get_ident())
                if index == self.fail_at:
                    raise RuntimeError("the engine broke")
                if index == 1 and self.gate is not None:
                    self.gate.wait(10)
                self.produced += 1
                yield f"data: {index}\n\n".encode()
                index += 1
        finally:
            self.closed_in = threading.get_ident()

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self.iterator)

    def close(self) -> None:
        self.iterator.close()


def _serve(coroutine_function):
    """Run as Django's ASGI handler runs a request: in a thread-sensitive context of its own."""

    async def request():
        async with ThreadSensitiveContext():
            return await coroutine_function()

    return asyncio.run(request())


def test_the_async_stream_yields_the_same_bytes_in_order_from_one_thread_off_the_event_loop():
    lines = Lines(IN_FLIGHT * 3 + 5)
    expected = list(Lines(IN_FLIGHT * 3 + 5))

    async def read():
        loop_thread = threading.get_ident()
        return loop_thread, [line async for line in async_lines(lines)]

    loop_thread, got = _serve(read)

    assert got == expected
    assert len(lines.threads) == 1
    assert loop_thread not in lines.threads
    assert lines.closed_in in lines.threads


def test_a_reader_that_stops_closes_the_iterator_in_its_thread_before_the_stream_ends():
    lines = Lines(None)  # endless: only the reader's leaving ends it

    async def read_three():
        stream = async_lines(lines)
        got = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return got

    got = _serve(read_three)

    assert got == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    assert lines.closed_in in lines.threads
    # It ran ahead of the reader by at most the lines in flight, and stopped there.
    assert lines.produced <= 3 + IN_FLIGHT + 1


def test_a_reader_cancelled_mid_stream_closes_the_iterator():
    """A client that disconnects: Django cancels the task that sends the response."""
    gate = threading.Event()
    lines = Lines(None, gate=gate)

    async def read_until_cancelled():
        received = asyncio.Event()
        got = []

        async def send():
            stream = async_lines(lines)
            try:
                async for line in stream:
                    got.append(line)
                    received.set()
            finally:
                await stream.aclose()

        task = asyncio.ensure_future(send())
        await received.wait()
        task.cancel()
        gate.set()  # the engine answers its next piece after the client has gone
        with pytest.raises(asyncio.CancelledError):
            await task
        return got

    got = _serve(read_until_cancelled)

    assert got == [b"data: 0\n\n"]
    assert lines.closed_in in lines.threads
    assert lines.produced <= 2 + IN_FLIGHT


def test_an_error_of_the_iterator_reaches_the_reader_after_the_lines_before_it():
    lines = Lines(10, fail_at=4)
    got: list[bytes] = []

    async def read():
        async for line in async_lines(lines):
            got.append(line)

    with pytest.raises(RuntimeError, match="the engine broke"):
        _serve(read)
    assert got == [f"data: {i}\n\n".encode() for i in range(4)]
    assert lines.closed_in in lines.threads
