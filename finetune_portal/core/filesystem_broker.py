"""The filesystem broker of `make run`, with messages that appear whole.

kombu's filesystem transport creates a message file and then writes into it. A worker listing the folder
in between takes the still-empty file, cannot decode it, and the task is lost: in `make run` that was a
launched job left queued. Here each message is written under a name no consumer looks at and renamed
into place, which is atomic within one filesystem.

The exchange tables live in the ``control_folder`` transport option, which is required: kombu's default
is "control" in the current directory, which puts broker state into whatever folder the process runs in.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from time import monotonic_ns

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    @property
    def control_folder(self) -> Path:
        folder = self.transport_options.get("control_folder")
        if not folder:
            raise ChannelError("The filesystem broker needs a control_folder in its transport options.")
        return Path(folder)

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


class Transport(filesystem.Transport):
    Channel = Channel
