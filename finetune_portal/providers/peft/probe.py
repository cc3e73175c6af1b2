"""Prints this machine's training hardware as JSON: `python -m finetune_portal.providers.peft.probe`.

The worker runs it in a child process: asking torch about the GPUs initialises CUDA, and a CUDA-initialised
Celery parent cannot fork working pool processes.
"""

from __future__ import annotations

import json


def main() -> None:
    from finetune_portal.providers.peft.trainer import hardware

    print(json.dumps(hardware()))


if __name__ == "__main__":
    main()
