"""The filesystem broker of `make run`, with messages that appear whole.

kombu's filesystem transport creates a message file and then writes into it. A worker listing the folder
in between takes the still-empty file, cannot decode it, and the task is lost: in `make run` that was a
launched job left queued. Here each message is written under a name no consumer looks at and renamed
into place, which is atomic within one filesystem.

The exchange tables live in the ``control_folder`` transport option, which is required: kombu's default
is "control" in the current directory, which puts broker state into whatever folder the process runs in.
kombu creates a table file empty and locks it only then, so a process declaring the same queue at that
moment read "" and failed to decode it; here a table changes under a lock file of its own and appears
whole, by the same rename.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from time import monotonic_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.filesystem import LOCK_EX, exchange_queue_t, lock, unlock
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    @property
    def control_folder(self) -> Path:
        folder = self.transport_options.get("control_folder")
        if not folder:
            raise ChannelError("The filesystem broker needs a control_folder in its transport options.")
        return Path(folder)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_guard(exchange):
            queues = self.get_table(exchange)
            if entry not in queues:
                self._table_write(exchange, [entry, *queues])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # kombu's version rewrites the table in place; this one under the table's lock, appearing whole.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_guard(exchange):
            queues = self.get_table(exchange)
            if entry in queues:
                self._table_write(exchange, [q for q in queues if q != entry])

    def _table_guard(self, exchange):
        self.control_folder.mkdir(parents=True, exist_ok=True)
        return _Locked(self.control_folder / f".{exchange}.lock")

    def _table_write(self, exchange, queues) -> None:
        table = self._exchange_file(exchange)
        partial = table.with_name(f".{table.name}.partial")
        try:
            partial.write_bytes(str_to_bytes(dumps(queues)))
            os.replace(partial, table)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ChannelError(f"Cannot write {table}") from exc

    def _put(self, queue, payload, **kwargs):
        # The name kombu's consumer expects, "<time>_<uuid>.<queue>.msg": it takes the first in sorted
        # order. kombu's own names use milliseconds, so messages sent within one millisecond come out in
        # uuid order; zero-padded nanoseconds of the system-wide monotonic clock keep them in send order.
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        folder = Path(self.data_folder_out)
        # A leading dot puts the queue name out of the consumer's reach until the rename.
        partial = folder / f".{name}.partial"
        try:
            partial.write_bytes(str_to_bytes(dumps(payload)))
            os.replace(partial, folder / name)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ChannelError(f"Cannot add file {name!r} to {folder}") from exc


class _Locked:
    """An exclusive lock on a file of its own, held for a ``with`` block (across processes too)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.file = open(self.path, "a")
        lock(self.file, LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        unlock(self.file)
        self.file.close()


class Transport(filesystem.Transport):
    Channel = Channel
