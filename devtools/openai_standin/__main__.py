"""Run the stand-in as a process for demos: ``python -m devtools.openai_standin --port 8765``.

In demo mode its clock follows the wall clock (sped up by ``--speed``) so jobs progress on their own.
"""

from __future__ import annotations

import argparse
import threading
import time

from devtools.openai_standin.server import StandinServer


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in for OpenAI's fine-tuning API (not OpenAI).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--speed", type=float, default=1.0, help="stand-in seconds per real second")
    parser.add_argument(
        "--shutdown-date",
        action="append",
        default=[],
        metavar="MODEL=YYYY-MM-DD",
        help="send this shutdown_date for the model (and its fine-tunes) in GET /v1/models; repeatable",
    )
    args = parser.parse_args()
    server = StandinServer((args.host, args.port))
    for pair in args.shutdown_date:
        model, _, day = pair.partition("=")
        if not model or not day:
            parser.error(f"--shutdown-date takes MODEL=YYYY-MM-DD, not {pair!r}")
        server.state.shutdown_dates[model] = day
    server.state.now = int(time.time())

    def tick() -> None:
        while True:
            time.sleep(1)
            server.state.advance(args.speed)

    threading.Thread(target=tick, daemon=True).start()
    print(f"OpenAI stand-in (not OpenAI) listening on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
