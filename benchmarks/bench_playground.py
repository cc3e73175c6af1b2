"""The playground with four models streaming at once: does the rest of the portal stay responsive?

Starts the portal in this process (ASGI under uvicorn, then WSGI under a threaded server like the
development and test servers), with a paced fake chat provider that writes one piece every
BENCH_PIECE_SECONDS. Four clients stream answers from it back to back, as a four-column playground does,
while another client loads the playground page (what a second user, or the HTMX polling of the probe
grid, asks for) and times each load. Prints p50/p95 with and without the streams; the goal is p95 < 100 ms
while streaming.

    python benchmarks/bench_playground.py

Uses a throwaway SQLite file under var/ unless DATABASE_URL is set. Knobs: BENCH_SECONDS=5 (per phase),
BENCH_STREAMS=4, BENCH_PIECES=40, BENCH_PIECE_SECONDS=0.05.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
if "DATABASE_URL" not in os.environ:
    (ROOT / "var").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_playground.sqlite3'}"

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "4"))
PIECES = int(os.environ.get("BENCH_PIECES", "40"))
PIECE_SECONDS = float(os.environ.get("BENCH_PIECE_SECONDS", "0.05"))
GOAL_P95_MS = 100.0
SLUG = "bench-playground"
# The benchmark serves no static files; whitenoise's note about the missing folder is noise here.
warnings.filterwarnings("ignore", message="No directory at")


def setup() -> str:
    """The project, a member and their session; the paced provider installed. Returns the session key."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from finetune_portal.projects.models import Membership, Project, Role
    from tests.factories import make_user
    from tests.playground import paced_provider

    settings.FINETUNE_PROVIDERS = [*settings.FINETUNE_PROVIDERS, paced_provider.PATH]
    settings.INFERENCE_RATE_LIMIT = "100000/m"
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.DEBUG = False  # as served in production (no query log)
    paced_provider.PacedChatProvider.pieces = [f"w{i} " for i in range(PIECES)]
    paced_provider.PacedChatProvider.seconds_per_piece = PIECE_SECONDS
    call_command("migrate", verbosity=0)
    Project.objects.filter(slug=SLUG).delete()
    project = Project.objects.create(name="Bench playground", slug=SLUG)
    get_user_model().objects.filter(username="bench-player").delete()
    user = make_user("bench-player")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Http:
    """A tiny keep-alive-free HTTP client over sockets (nothing outside the standard library)."""

    def __init__(self, port: int, session: str):
        self.port, self.session = port, session
        self.csrf = "benchCsrfToken0123456789abcdefgh"  # 32 letters and digits, as Django checks

    def _send(self, method: str, path: str, body: bytes = b"", extra: str = "") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Cookie: sessionid={self.session}; csrftoken={self.csrf}\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        return sock

    def get(self, path: str) -> int:
        with self._send("GET", path) as sock:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return int(data.split(b" ", 2)[1])

    def stream(self, path: str, payload: dict) -> tuple[float, int]:
        """POST and read the answer to its end: (seconds to the first delta, deltas received)."""
        body = json.dumps(payload).encode()
        extra = (
            f"Content-Type: application/json\r\nX-CSRFToken: {self.csrf}\r\nReferer: http://127.0.0.1/\r\n"
        )
        started = time.perf_counter()
        first, deltas, seen = 0.0, 0, b""
        with self._send("POST", path, body, extra) as sock:
            while chunk := sock.recv(65536):
                seen += chunk
                count = seen.count(b"event: delta")
                if count and not first:
                    first = time.perf_counter() - started
                deltas = count
        if b"event: done" not in seen:
            raise SystemExit(f"a stream did not finish: {seen[:300]!r}")
        return first, deltas


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(port: int, session: str, *, streams: int) -> dict:
    from tests.playground import paced_provider

    http = Http(port, session)
    page = f"/p/{SLUG}/playground/"
    if http.get(page) != 200:
        raise SystemExit("the playground page did not load")
    stop = threading.Event()
    firsts: list[float] = []
    answers = [0]

    failures: list[BaseException] = []

    def streamer() -> None:
        try:
            stream_until_stopped()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            stop.set()

    def stream_until_stopped() -> None:
        while not stop.is_set():
            first, deltas = http.stream(
                f"{page}answer/",
                {"model": paced_provider.BASE, "messages": [{"role": "user", "content": "Hi"}]},
            )
            firsts.append(first)
            answers[0] += 1
            if deltas != PIECES:
                raise RuntimeError(f"{deltas} pieces arrived of {PIECES}")

    workers = [threading.Thread(target=streamer, daemon=True) for _ in range(streams)]
    for worker in workers:
        worker.start()
    time.sleep(0.3 if streams else 0)
    latencies: dict[str, list[float]] = {page: [], "/healthz": []}
    deadline = time.perf_counter() + SECONDS
    while time.perf_counter() < deadline and not stop.is_set():
        for path, times in latencies.items():
            started = time.perf_counter()
            if http.get(path) != 200:
                raise SystemExit(f"{path} did not answer 200")
            times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    stop.set()
    for worker in workers:
        worker.join(timeout=PIECES * PIECE_SECONDS + 30)
    if failures:
        raise SystemExit(f"a stream failed: {failures[0]!r}")
    return {
        "requests": len(latencies[page]),
        "p50": statistics.median(latencies[page]),
        "p95": percentile(latencies[page], 0.95),
        "health_p95": percentile(latencies["/healthz"], 0.95),
        "answers": answers[0],
        "ttft_ms": statistics.median(firsts) * 1000 if firsts else None,
    }


def serve_asgi(port: int):
    import uvicorn
    from django.core.asgi import get_asgi_application

    server = uvicorn.Server(
        uvicorn.Config(
            get_asgi_application(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_wsgi(port: int):
    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", port, get_wsgi_application(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


def main() -> int:
    session = setup()
    print(
        f"{STREAMS} streams of {PIECES} pieces x {PIECE_SECONDS * 1000:.0f} ms; "
        f"{SECONDS:.0f} s per phase; page loads timed: GET /p/{SLUG}/playground/"
    )
    print(
        f"{'server':<26}{'streams':>8}{'loads':>7}{'page p50':>10}{'page p95':>10}{'healthz p95':>13}"
        f"{'answers':>9}{'ttft ms':>9}"
    )
    worst, calm = 0.0, 0.0
    for name, serve in (("ASGI (uvicorn)", serve_asgi), ("WSGI (threaded server)", serve_wsgi)):
        port = free_port()
        stop = serve(port)
        try:
            for streams in (0, STREAMS):
                row = measure(port, session, streams=streams)
                ttft = f"{row['ttft_ms']:.0f}" if row["ttft_ms"] is not None else "-"
                print(
                    f"{name:<26}{streams:>8}{row['requests']:>7}{row['p50']:>10.1f}{row['p95']:>10.1f}"
                    f"{row['health_p95']:>13.1f}{row['answers']:>9}{ttft:>9}"
                )
                if streams:
                    worst = max(worst, row["p95"])
                else:
                    calm = max(calm, row["p95"])
        finally:
            stop()
    verdict = "met" if worst < GOAL_P95_MS else "MISSED"
    print(
        f"goal: page p95 < {GOAL_P95_MS:.0f} ms while {STREAMS} answers stream: {verdict} "
        f"(worst {worst:.1f} ms; worst without streams {calm:.1f} ms, the machine's own floor)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
