"""The filesystem broker of `make run`: a worker polling while tasks are sent never takes half a message."""

from __future__ import annotations

import threading

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError
from kombu.transport.virtual import BrokerState

from finetune_portal.core.filesystem_broker import Transport

MESSAGES = 150
PAYLOAD = "x" * 200_000  # big enough that writing one takes longer than a consumer's look at the folder


@pytest.fixture(autouse=True)
def fresh_broker_state(monkeypatch):
    """kombu keeps the declared bindings process-wide, as if every connection shared one control folder;
    each test here has its own, so each starts with no bindings (else its exchange table is never written)."""
    monkeypatch.setattr(Transport, "global_state", BrokerState())


def connection(folder):
    return Connection(
        "filesystem://",
        transport=Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "store_processed": False,
            "control_folder": str(folder / "control"),
        },
    )


def test_a_consumer_polling_while_messages_are_written_receives_every_one_whole(tmp_path):
    received, failures = [], []
    done = threading.Event()

    def consume():
        with connection(tmp_path) as conn:
            queue = conn.SimpleQueue("gpu")
            while len(received) < MESSAGES and not done.is_set():
                try:
                    message = queue.get(timeout=0.001)
                except queue.Empty:
                    continue
                except Exception as exc:  # a message read before it was written: what must not happen
                    failures.append(exc)
                    continue
                received.append(message.payload)
                message.ack()

    # Declared before the consumer starts: threads of one process share kombu's binding state, so a
    # consumer still writing the binding would make the producer skip it and route its first message
    # nowhere (separate processes each write their own).
    with connection(tmp_path) as conn:
        conn.SimpleQueue("gpu")
    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        with connection(tmp_path) as conn:
            queue = conn.SimpleQueue("gpu")
            for number in range(MESSAGES):
                queue.put({"number": number, "payload": PAYLOAD})
        consumer.join(timeout=60)
    finally:
        done.set()
        consumer.join()

    assert failures == []
    assert [m["number"] for m in received] == list(range(MESSAGES))
    assert all(m["payload"] == PAYLOAD for m in received)


def test_a_partly_written_message_is_neither_counted_nor_taken(tmp_path):
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("gpu")
        (tmp_path / ".123_abc.gpu.msg.partial").write_bytes(b'{"bod')
        assert conn.default_channel.queue_declare(queue="gpu", passive=True).message_count == 0
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.01)

        queue.put({"number": 1})
        assert conn.default_channel.queue_declare(queue="gpu", passive=True).message_count == 1
        assert queue.get(timeout=1).payload == {"number": 1}


def test_sending_and_receiving_writes_nothing_into_the_current_directory(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    broker = tmp_path / "broker"
    broker.mkdir()

    with connection(broker) as conn:
        queue = conn.SimpleQueue("gpu")
        queue.put({"number": 1})
        queue.get(timeout=1).ack()

    assert list(cwd.iterdir()) == []
    assert (broker / "control" / "gpu.exchange").exists()


def test_a_broker_without_a_control_folder_is_refused_instead_of_writing_into_the_current_directory(
    tmp_path, monkeypatch
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}

    with (
        Connection("filesystem://", transport=Transport, transport_options=options) as conn,
        pytest.raises(ChannelError, match="control_folder"),
    ):
        conn.SimpleQueue("gpu")

    assert list(cwd.iterdir()) == []


def test_messages_sent_within_one_millisecond_are_taken_in_the_order_sent(tmp_path):
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("gpu")
        for number in range(200):  # small messages: many are written within each millisecond
            queue.put({"number": number})
        taken = []
        for _ in range(200):
            message = queue.get(timeout=1)
            taken.append(message.payload["number"])
            message.ack()

    assert taken == list(range(200))


def test_an_exchange_table_is_never_read_half_made(tmp_path):
    """kombu created a table file empty and wrote it after: a process reading it then (publishing, or
    declaring the same queue) failed to decode "" and lost its message or its worker."""
    errors = []
    stop = threading.Event()
    table = tmp_path / "control" / "gpu.exchange"
    with connection(tmp_path) as writing, connection(tmp_path) as reading:
        writer, reader = writing.default_channel, reading.default_channel

        def read():
            while not stop.is_set():
                try:
                    reader.get_table("gpu")
                except Exception as exc:
                    errors.append(exc)
                    return

        thread = threading.Thread(target=read)
        thread.start()
        try:
            for _ in range(300):
                table.unlink(missing_ok=True)  # each bind creates the table anew
                writer._queue_bind("gpu", "gpu", "", "gpu")
        finally:
            stop.set()
            thread.join()
        assert [q.queue for q in reader.get_table("gpu")] == ["gpu"]

    assert errors == []
