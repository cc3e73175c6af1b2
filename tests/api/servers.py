"""The portal served on a loopback port under ASGI (uvicorn), as the production web server runs it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from django.core.asgi import get_asgi_application


@contextlib.contextmanager
def asgi_server() -> Iterator[str]:
    """Yields the base URL of uvicorn serving Django's ASGI application in a thread."""
    config = uvicorn.Config(
        get_asgi_application(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
