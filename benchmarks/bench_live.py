"""Load on live job pages: many viewers of one running job, streamed (SSE) and polled side by side.

Builds its own data (one job of 100,000 metric points and one of 1,000) in the database DATABASE_URL
names, starts the portal under gunicorn with uvicorn workers on a loopback port, and opens N simulated
viewers of the running job, first in streaming mode, then in polling mode, for each N:

- streaming: one Server-Sent Events stream per viewer (the job page's live channel, opened with the
  parts version the page was built with); a viewer shows a new point when an event carries it, or
  fetches "points after step N" when the event does not. The page's status, events and outputs parts
  arrive rendered in the event when they change; a viewer asks for them over HTTP only when the event
  names a part too big to carry (``parts_to_ask``), at a random moment of the event's spread_ms, as
  the page does.
- polling: the fallback the page uses without the stream: the chart's JSON poll every 2 s, and the
  HTMX status/events part when that poll reports a new live version, and every 10 s anyway.

A writer in this process records one point every 5 s, as a worker does (with REDIS_URL set it is
published on Redis; without, each web process reads the job once a second). Printed per run: the
time until a new point reached a viewer (p50/p95, and p95 of "until it reached every viewer"), the
latency of other requests made meanwhile (opening the job page and the runs list), errors, and the
server's CPU per viewer while nothing happens. Before the runs: the job page and the runs list rendered
in this process (queries, p50/p95), and the CPU of handing one change to 500 and 1,000 open streams.
Then the full downsampled view of the 100,000-point job while it grows.

    createdb -h 127.0.0.1 -U postgres live_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/live_bench REDIS_URL=redis://127.0.0.1:6379/1 \
        .venv/bin/python benchmarks/bench_live.py

Without DATABASE_URL it uses a throwaway SQLite file under var/ (say so when quoting figures: the
target is PostgreSQL). With REDIS_URL the server also uses it as its shared cache (CACHE_URL), as
docker-compose does. Knobs: BENCH_VIEWERS="50,200,500,1000", BENCH_MODES="stream,poll",
BENCH_SECONDS=11 (per run, after BENCH_IDLE_SECONDS=2 of idle viewers), BENCH_WORKERS=cores,
BENCH_POINTS=100000,
BENCH_VIEWERS_ONLY=1 (only the viewer runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
USING_DEFAULT_DB = "DATABASE_URL" not in os.environ
if USING_DEFAULT_DB:
    (ROOT / "var").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_live.sqlite3'}"

# The server runs without DEBUG; so do the in-process timings (no query log, no debug templates).
os.environ.setdefault("DEBUG", "false")
if os.environ.get("REDIS_URL"):
    # The shared cache of docker-compose, for the server and for this process's writer alike.
    os.environ.setdefault("CACHE_URL", os.environ["REDIS_URL"])
VIEWER_COUNTS = [int(n) for n in os.environ.get("BENCH_VIEWERS", "50,200,500,1000").split(",")]
MODES = [m.strip() for m in os.environ.get("BENCH_MODES", "stream,poll").split(",") if m.strip()]
SECONDS_PER_RUN = float(os.environ.get("BENCH_SECONDS", "11"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "2"))
# Under ASGI one process per core: a process serves its open streams from one event loop.
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 1)))
LONG_JOB_POINTS = int(os.environ.get("BENCH_POINTS", "100000"))
# Only the viewer runs (skips the single-viewer poll cost and the full view).
VIEWERS_ONLY = os.environ.get("BENCH_VIEWERS_ONLY", "") == "1"
SHORT_JOB_POINTS = 1000
POLL_INTERVAL = 2.0  # the job page's POLL_MS
LIVE_PARTS_INTERVAL = 10.0  # the job page's LIVE_PARTS_POLL_MS
LIVE_PARTS_SPREAD = 1.0  # the job page's LIVE_PARTS_SPREAD_MS, when the event gives no spread_ms
# A provider reports a step every few seconds.
WRITE_INTERVAL = 5.0
# How often another user opens the job page or the runs list while the viewers watch.
PROBE_INTERVAL = 0.5
SLUG = "bench-live"


def setup_data() -> dict:
    import django

    django.setup()
    import math

    from django.core.management import call_command
    from django.test import Client

    from finetune_portal.jobs.models import MetricPoint
    from finetune_portal.projects.models import Membership, Project, Role
    from tests.factories import make_job, make_user

    call_command("migrate", verbosity=0)
    Project.objects.filter(slug=SLUG).delete()
    project = Project.objects.create(name="Bench live", slug=SLUG)
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="bench-viewer").delete()
    user = make_user("bench-viewer")
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)

    def job_with(points: int):
        job = make_job(project, created_by=user, status="running", name=f"{points} points")
        rows = []
        for step in range(1, points + 1):
            rows.append(
                MetricPoint(
                    job_id=job.pk,
                    step=step,
                    train_loss=2 * math.exp(-step / (points / 4)) + 0.3 + 0.05 * math.sin(step),
                    train_mean_token_accuracy=0.6 + 0.3 * step / points,
                    valid_loss=(2 * math.exp(-step / (points / 4)) + 0.35) if step % 50 == 0 else None,
                    extra={"total_steps": points * 2},
                )
            )
            if len(rows) == 5000:
                MetricPoint.objects.bulk_create(rows)
                rows = []
        MetricPoint.objects.bulk_create(rows)
        return job

    started = time.perf_counter()
    long_job = job_with(LONG_JOB_POINTS)
    short_job = job_with(SHORT_JOB_POINTS)
    took = time.perf_counter() - started
    print(f"data: {LONG_JOB_POINTS:,} + {SHORT_JOB_POINTS:,} points written in {took:.1f}s")

    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    return {"long": long_job.pk, "short": short_job.pk, "session": session}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env() -> dict:
    env = {
        **os.environ,
        "DEBUG": "false",
        "DATABASE_POOL": os.environ.get("DATABASE_POOL", "1"),  # as docker-compose runs it
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONWARNINGS": "ignore::UserWarning",  # whitenoise: no collected static files, none needed here
    }
    return env


def start_server(port: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "finetune_portal.asgi:application",
        "--worker-class=uvicorn_worker.UvicornWorker",
        f"--bind=127.0.0.1:{port}",
        f"--workers={WORKERS}",
        "--graceful-timeout=3",
        "--keep-alive=30",  # as a proxy in front would keep them; gunicorn's default is 2 s
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=server_env())  # noqa: S603
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU time of the gunicorn master and its workers so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [server.pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        pids += [int(pid) for pid in children]
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


class Connection:
    """One keep-alive HTTP/1.1 connection, like a browser tab's."""

    def __init__(self, port: int, session: str):
        self.port, self.session = port, session
        self.reader = self.writer = None

    async def get(self, path: str, extra_headers: str = "") -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._get(path, extra_headers)
        except (OSError, asyncio.IncompleteReadError):
            if not reused:
                raise
            # The server closed the idle connection just before this request: a browser sends it again.
            self.close()
            return await self._get(path, extra_headers)

    async def _get(self, path: str, extra_headers: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={self.session}\r\n"
            f"{extra_headers}Connection: keep-alive\r\n\r\n"
        )
        self.writer.write(request.encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status, body

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def metrics_path(job_id: int, query: str) -> str:
    return f"/p/{SLUG}/jobs/{job_id}/metrics/?{query}"


class Run:
    """What one run measured."""

    def __init__(self) -> None:
        self.written: dict[int, float] = {}  # step -> when the writer committed it
        self.seen: dict[int, list[float]] = {}  # step -> when each viewer first showed it
        self.probe_latencies: list[float] = []
        self.loop_lags: list[float] = []
        self.requests = 0
        self.errors = 0
        self.stream_events = 0
        # Events that carried rendered parts, and the bytes of those events.
        self.part_events = 0
        self.part_bytes = 0

    def saw(self, last: int | None, before: int | None, now: float) -> None:
        if last is None:
            return
        for step in range((before or 0) + 1, last + 1):
            self.seen.setdefault(step, []).append(now)

    def point_latencies(self, viewers: int) -> tuple[list[float], list[float], int]:
        """(each viewer's delay per point, the delay until every viewer had it per point, points
        some viewer never got before the run ended)."""
        each, every, missed = [], [], 0
        for step, at in self.written.items():
            seen = self.seen.get(step, [])
            each += [t - at for t in seen]
            if len(seen) < viewers:
                missed += 1
            elif seen:
                every.append(max(seen) - at)
        return each, every, missed


async def read_chunked_line_blocks(reader):
    """The body of a chunked HTTP response, chunk by chunk."""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.strip().split(b";")[0], 16)
        if size == 0:
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def stream_viewer(
    port, session, job_id, start_step, parts_version, run: Run, clock: dict, ready: asyncio.Event
):
    """One job page on the live stream: inline points, or a fetch of the points after the last held;
    the page's parts as the events carry them, and, as the page does when an event names a part too
    big to carry (or carries none though the live version moved), a request for them a moment later
    (at a random point of the event's spread, so a thousand pages do not ask at once)."""
    import json
    from urllib.parse import quote

    held = start_step
    fetcher = Connection(port, session)
    writer = None
    held_live = None
    refreshes: set[asyncio.Task] = set()

    async def refresh_parts(names: list[str], version: str, spread: float) -> None:
        await asyncio.sleep(random.uniform(0, spread))  # noqa: S311 - the page's spread
        parts = Connection(port, session)
        try:
            for name in names:
                run.requests += 1
                query = f"part=live&v={version}" if name == "live" else f"part={name}"
                status, _ = await parts.get(f"/p/{SLUG}/jobs/{job_id}/?{query}", "HX-Request: true\r\n")
                if status not in (200, 204, 286):
                    run.errors += 1
        except (OSError, asyncio.IncompleteReadError):
            run.errors += 1
        finally:
            parts.close()

    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"GET /p/{SLUG}/jobs/live/?jobs={job_id}&parts={quote(parts_version)} HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                f"Cookie: sessionid={session}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            run.errors += 1
            return
        ready.set()
        buffer = b""
        chunks = read_chunked_line_blocks(reader)
        pending = asyncio.ensure_future(chunks.__anext__())
        while time.perf_counter() < clock["stop_at"]:
            done, _ = await asyncio.wait({pending}, timeout=0.5)
            if not done:
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                run.errors += 1  # the server ended the stream
                return
            pending = asyncio.ensure_future(chunks.__anext__())
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                data = [line[6:] for line in block.split(b"\n") if line.startswith(b"data: ")]
                if not data:
                    continue
                run.stream_events += 1
                state = json.loads(data[0])
                if "part_html" in state:
                    run.part_events += 1
                    run.part_bytes += len(data[0])
                asked = state.get("parts_to_ask") or []
                if "*" in asked:
                    asked = ["status", "events", "outputs"]
                if not asked and "part_html" not in state and held_live not in (None, state.get("live")):
                    asked = ["live"]  # a stream that carries no parts: the page asks for them all
                if asked:
                    spread = state.get("spread_ms", LIVE_PARTS_SPREAD * 1000) / 1000
                    task = asyncio.ensure_future(refresh_parts(asked, held_live, spread))
                    refreshes.add(task)
                    task.add_done_callback(refreshes.discard)
                held_live = state.get("live", held_live)
                last, points = state.get("last_step"), state.get("points")
                if last is None or last <= held:
                    continue
                if points and (points["after"] is None or points["after"] <= held):
                    run.saw(last, held, time.perf_counter())
                    held = last
                    continue
                run.requests += 1
                status, body = await fetcher.get(metrics_path(job_id, f"after_step={held}"))
                if status != 200:
                    run.errors += 1
                    continue
                got = json.loads(body)["last_step"]
                run.saw(got, held, time.perf_counter())
                held = max(held, got or held)
        pending.cancel()
        await asyncio.gather(*refreshes)
    except (OSError, asyncio.IncompleteReadError):
        run.errors += 1
    finally:
        ready.set()
        if writer is not None:
            writer.close()
        fetcher.close()


async def poll_viewer(port, session, job_id, start_step, version, run: Run, clock: dict, ready):
    """One job page without the stream: the chart's poll every 2 s and the live parts' refresh."""
    import json
    import re

    state = {"step": start_step, "version": version}
    live_changed = asyncio.Event()
    ready.set()

    async def loop(interval, request, handle, wake=None):
        connection = Connection(port, session)
        first_wait = random.uniform(0, interval)  # noqa: S311 - tabs opened at different moments
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((wake or asyncio.Event()).wait(), first_wait)
        try:
            while time.perf_counter() < clock["stop_at"]:
                if wake is not None:
                    wake.clear()
                began = time.perf_counter()
                try:
                    run.requests += 1
                    status, body = await connection.get(*request())
                except (OSError, asyncio.IncompleteReadError):
                    run.errors += 1
                    connection = Connection(port, session)
                    await asyncio.sleep(interval)
                    continue
                handle(status, body)
                left = clock["stop_at"] - time.perf_counter()
                pause = max(0.0, min(interval - (time.perf_counter() - began), left))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for((wake or asyncio.Event()).wait(), pause)
        finally:
            connection.close()

    def chart_handle(status, body):
        if status != 200:
            run.errors += 1
            return
        payload = json.loads(body)
        if payload["last_step"] is not None and payload["last_step"] > state["step"]:
            run.saw(payload["last_step"], state["step"], time.perf_counter())
            state["step"] = payload["last_step"]
        if payload["live_version"] != state["version"]:
            live_changed.set()

    def live_handle(status, body):
        if status == 200:
            found = re.search(rb"part=live&amp;v=([^\"]+)\"", body)
            state["version"] = found.group(1).decode() if found else state["version"]
        elif status != 204:
            run.errors += 1

    await asyncio.gather(
        loop(
            POLL_INTERVAL,
            lambda: (metrics_path(job_id, f"after_step={state['step']}"), "Accept: application/json\r\n"),
            chart_handle,
        ),
        loop(
            LIVE_PARTS_INTERVAL,
            lambda: (f"/p/{SLUG}/jobs/{job_id}/?part=live&v={state['version']}", "HX-Request: true\r\n"),
            live_handle,
            live_changed,
        ),
    )


async def probe(port: int, session: str, job_id: int, seconds: float) -> tuple[list[float], int]:
    """Someone else using the portal meanwhile: opening the job page and the runs list in turn."""
    paths = [f"/p/{SLUG}/jobs/{job_id}/", f"/p/{SLUG}/jobs/"]
    latencies, errors = [], 0
    stop_at = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop_at:
        connection = Connection(port, session)  # a fresh connection, as a new tab makes
        began = time.perf_counter()
        try:
            status, _ = await connection.get(paths[i % 2])
            if status != 200:
                errors += 1
            else:
                latencies.append(time.perf_counter() - began)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        connection.close()
        i += 1
        await asyncio.sleep(PROBE_INTERVAL)
    return latencies, errors


def probe_main(port: str, session: str, job_id: str, seconds: str) -> None:
    import json

    latencies, errors = asyncio.run(probe(int(port), session, int(job_id), float(seconds)))
    print(json.dumps({"latencies": latencies, "errors": errors}))


async def prober(port, session, job_id, run: Run, clock: dict, started: asyncio.Event):
    """Runs ``probe`` in a process of its own, as another person's browser would: in the viewers'
    process its timings would include the wait for this process's event loop, busy with a thousand
    simulated viewers whenever a point arrives (see ``loop_lag``)."""
    import json

    await started.wait()
    seconds = clock["stop_at"] - time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe",
        str(port),
        session,
        str(job_id),
        f"{seconds:.3f}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1])
    run.probe_latencies += result["latencies"]
    run.errors += result["errors"]


async def loop_lag(run: Run, clock: dict, started: asyncio.Event) -> None:
    """How late this process's event loop wakes a 20 ms sleep: the simulated viewers' own delay."""
    await started.wait()
    while time.perf_counter() < clock["stop_at"]:
        began = time.perf_counter()
        await asyncio.sleep(0.02)
        run.loop_lags.append(time.perf_counter() - began - 0.02)


def start_writer(job_id: int, first_step: int, run: Run, clock: dict) -> threading.Thread:
    """Record a point at once and then every WRITE_INTERVAL seconds, the way a worker does; the last
    one leaves viewers 4 s to show it before the run ends."""

    def write():
        from django.db import connection

        from finetune_portal.jobs.models import FineTuningJob
        from finetune_portal.jobs.services import metric_points_record

        job = FineTuningJob.objects.get(pk=job_id)
        step = first_step
        next_at = time.perf_counter()
        while next_at < clock["stop_at"] - 4:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            step += 1
            # Timed from before the write: the delay includes the write itself, never less than the truth.
            run.written[step] = time.perf_counter()
            metric_points_record(job=job, points=[{"step": step, "train_loss": 0.3}])
            next_at += WRITE_INTERVAL
        connection.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


async def one_run(
    mode, port, session, job_id, start_step, version, parts_version, count, server
) -> tuple[Run, float]:
    run = Run()
    clock = {"stop_at": float("inf")}
    readies = [asyncio.Event() for _ in range(count)]
    started = asyncio.Event()
    threads = []

    async def viewer(ready):
        await asyncio.sleep(random.uniform(0, 1.0))  # noqa: S311 - tabs open at different moments
        if mode == "stream":
            await stream_viewer(port, session, job_id, start_step, parts_version, run, clock, ready)
        else:
            await poll_viewer(port, session, job_id, start_step, version, run, clock, ready)
        ready.set()

    async def conductor() -> float:
        await asyncio.gather(*(ready.wait() for ready in readies))
        await asyncio.sleep(1.0)  # every stream has had its first event
        cpu_before, idle_began = server_cpu_seconds(server), time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        idle_cpu = (server_cpu_seconds(server) - cpu_before) / (time.perf_counter() - idle_began)
        clock["stop_at"] = time.perf_counter() + SECONDS_PER_RUN
        started.set()
        threads.append(start_writer(job_id, start_step, run, clock))
        return idle_cpu

    idle_cpu, *_ = await asyncio.gather(
        conductor(),
        prober(port, session, job_id, run, clock, started),
        loop_lag(run, clock, started),
        *(viewer(r) for r in readies),
    )
    for thread in threads:
        thread.join()
    return run, idle_cpu


async def sequential(port: int, session: str, path: str, times: int) -> list[float]:
    connection = Connection(port, session)
    latencies = []
    for _ in range(times):
        began = time.perf_counter()
        status, _ = await connection.get(path)
        latencies.append(time.perf_counter() - began)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
    connection.close()
    return latencies


def full_view_timings(job_id: int) -> list[tuple[str, list[float]]]:
    """Building the full view from nothing (query, downsampling, JSON), as on a cold cache."""
    import json

    from finetune_portal.jobs.selectors.series import metric_points_overview

    cold = []
    for _ in range(5):
        began = time.perf_counter()
        json.dumps(metric_points_overview(job_id).as_json())
        cold.append(time.perf_counter() - began)
    return [(f"built from all {LONG_JOB_POINTS:,} points (cold cache, in process)", cold)]


def fanout_cpu_per_change(streams: int, changes: int = 20) -> float:
    """CPU seconds one web process spends handing one change to ``streams`` open streams of a job
    (the hub's relay and each stream's event text; no HTTP), measured in this process."""
    from django.test import override_settings

    from finetune_portal.core.live import hub as live_hub
    from finetune_portal.core.live import sse

    def state(step: int) -> dict:
        points = {"after": step - 1, "series": {"train_loss": [[step], [0.3]]}}
        return {"job": 1, "status": "running", "last_step": step, "version": f"{step}/0", "points": points}

    async def measure() -> float:
        source = live_hub.LiveSource(topic="job:bench", event="job", read=lambda previous: state(0))
        seen = {"events": 0, "want": streams}
        arrived = asyncio.Event()

        async def viewer() -> None:
            async for text in sse.sse_stream([source], still_allowed=lambda: True):
                if text.startswith("id:"):
                    seen["events"] += 1
                    if seen["events"] >= seen["want"]:
                        arrived.set()

        viewers = [asyncio.create_task(viewer()) for _ in range(streams)]
        await arrived.wait()
        hub = live_hub.live_hub()
        began = time.process_time()
        for step in range(1, changes + 1):
            arrived.clear()
            seen["want"] = streams * (step + 1)
            hub._publish_locally(source.topic, state(step))  # what a Redis message does
            await arrived.wait()
        spent = time.process_time() - began
        for task in viewers:
            task.cancel()
        await asyncio.gather(*viewers, return_exceptions=True)
        return spent / changes

    with override_settings(LIVE_REDIS_URL=""):
        return asyncio.run(measure())


def page_render_timings(job_id: int, session: str) -> list[tuple[str, int, list[float]]]:
    """Opening the job page and the runs list in this process (Django's test client, no HTTP, no
    other load from this benchmark): (label, queries, seconds per render). The job page's live parts
    are shared by every viewer until the job changes; "after a change" renders them again."""
    from django.db import connection, reset_queries
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.jobs.services import job_event_record

    client = Client()
    client.cookies["sessionid"] = session
    job = FineTuningJob.objects.get(pk=job_id)
    results = []
    with override_settings(ALLOWED_HOSTS=["*"]):
        for label, path in (("job page", f"/p/{SLUG}/jobs/{job_id}/"), ("runs list", f"/p/{SLUG}/jobs/")):
            if client.get(path).status_code != 200:
                raise SystemExit(f"{path} did not answer 200 in process")
            reset_queries()  # each request empties the log as it starts: count from empty, at once
            with CaptureQueriesContext(connection) as captured:
                client.get(path)
            queries = len(captured.captured_queries)
            seconds = []
            for _ in range(30):
                began = time.perf_counter()
                client.get(path)
                seconds.append(time.perf_counter() - began)
            results.append((label, queries, seconds))
        path = f"/p/{SLUG}/jobs/{job_id}/"
        seconds = []
        for n in range(10):
            job_event_record(job=job, message=f"bench event {n}")
            began = time.perf_counter()
            client.get(path)
            seconds.append(time.perf_counter() - began)
        job_event_record(job=job, message="bench event")
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            client.get(path)
        results.append(("job page after a change", len(captured.captured_queries), seconds))
    return results


def live_version(job_id: int) -> str:
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.jobs.selectors.live import job_live_version_for

    return job_live_version_for(FineTuningJob.objects.get(pk=job_id))


def parts_version(job_id: int) -> str:
    """The parts version a job page built now names to its stream."""
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.jobs.selectors.live import job_for_page
    from finetune_portal.jobs.views.job_parts import job_parts_version

    project_id = FineTuningJob.objects.values_list("project_id", flat=True).get(pk=job_id)
    return job_parts_version(job_for_page(project_id, job_id))


def last_step(job_id: int) -> int:
    from finetune_portal.jobs.models import MetricPoint

    return MetricPoint.objects.filter(job_id=job_id).order_by("-step").values_list("step", flat=True)[0]


def metric_points_record_step(job_id: int, step: int) -> None:
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.jobs.services import metric_points_record

    metric_points_record(job=FineTuningJob.objects.get(pk=job_id), points=[{"step": step, "train_loss": 0.3}])


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def main() -> None:
    data = setup_data()
    from django.db import connection as db

    note = " (default SQLite file; the target is PostgreSQL)" if USING_DEFAULT_DB else ""
    print(f"database: {db.vendor}{note}")
    channel = "Redis pub/sub" if os.environ.get("REDIS_URL") else "no Redis: each process reads it each 1 s"
    cache = "Redis" if server_env().get("CACHE_URL") else "local memory per process"
    print(f"server: gunicorn + uvicorn workers x {WORKERS}, loopback; cores: {os.cpu_count()}")
    print(f"live channel: {channel}; cache: {cache}")
    port = free_port()
    server = start_server(port)
    try:
        # Warm up every worker's connections and templates.
        asyncio.run(
            sequential(port, data["session"], metrics_path(data["long"], f"after_step={LONG_JOB_POINTS}"), 20)
        )

        if VIEWERS_ONLY:
            run_viewers(port, data, server)
            return
        print("\nPoll cost against job length (one viewer, 300 'nothing new' polls):")
        for label, job_id, last in (
            (f"{SHORT_JOB_POINTS:,} points", data["short"], SHORT_JOB_POINTS),
            (f"{LONG_JOB_POINTS:,} points", data["long"], LONG_JOB_POINTS),
        ):
            path = metrics_path(job_id, f"after_step={last}")
            lat = asyncio.run(sequential(port, data["session"], path, 300))
            print(f"  {label:>15}: p50 {ms(percentile(lat, 0.5))} ms  p95 {ms(percentile(lat, 0.95))} ms")

        print("\nFull view, downsampled to <= 2,000 points per series:")
        for label, seconds in full_view_timings(data["long"]):
            print(f"  {label}: p50 {ms(statistics.median(seconds))} ms  max {ms(max(seconds))} ms")
        lat = []
        for extra_step in range(1, 21):
            # The job grows between views, as it does while people open the page during a run.
            metric_points_record_step(data["long"], LONG_JOB_POINTS + extra_step)
            lat += asyncio.run(sequential(port, data["session"], metrics_path(data["long"], ""), 1))
        print(
            f"  first paint over HTTP while the job grows (20 views, a new point before each):"
            f" p50 {ms(statistics.median(lat))} ms  p95 {ms(percentile(lat, 0.95))} ms"
            f"  max {ms(max(lat))} ms   (goal p95 < 300 ms)"
        )

        run_viewers(port, data, server)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def run_viewers(port: int, data: dict, server: subprocess.Popen) -> None:
    print(f"\nOpening the job page ({LONG_JOB_POINTS:,} points) and the runs list in process (no HTTP):")
    for label, queries, seconds in page_render_timings(data["long"], data["session"]):
        print(
            f"  {label:>23}: p50 {ms(statistics.median(seconds))} ms  p95 {ms(percentile(seconds, 0.95))} ms"
            f"  {queries:3d} queries   (goal p50 < 30 ms)"
        )
    print("\nOne change handed to the open streams of one web process (CPU, in process, no HTTP):")
    for streams in (500, 1000):
        print(f"  {streams:5d} streams: {ms(fanout_cpu_per_change(streams))} ms per change")
    print(
        f"\nViewers of the running job for {SECONDS_PER_RUN:.0f}s each, a writer adding 1 point every"
        f" {WRITE_INTERVAL:.0f}s; meanwhile another user opens the job page and the runs list every"
        f" {PROBE_INTERVAL}s."
    )
    print("  point = time from the writer's commit until a viewer shows the point (every = until all do)")
    print(
        "  other = opening the job page / runs list meanwhile, from a process of its own;"
        "  idle CPU = server CPU with nothing new"
    )
    print("  viewers' lag = p95 delay of the simulated viewers' own event loop (shares the cores)")
    print(
        "      N  mode    point p50  p95 ms  every p95  missed   other p50  p95 ms  requests  errors"
        "  idle CPU %  per viewer  viewers' lag"
    )
    step = last_step(data["long"])
    for count in VIEWER_COUNTS:
        for mode in MODES:
            version, parts = live_version(data["long"]), parts_version(data["long"])
            run, idle_cpu = asyncio.run(
                one_run(mode, port, data["session"], data["long"], step, version, parts, count, server)
            )
            step = last_step(data["long"])
            each, every, missed = run.point_latencies(count)
            probes = run.probe_latencies or [float("nan")]
            print(
                f"  {count:5d}  {mode:6s} {ms(percentile(each or [float('nan')], 0.5))}"
                f" {ms(percentile(each or [float('nan')], 0.95))}"
                f"  {ms(percentile(every or [float('nan')], 0.95))}  {missed:6d}"
                f"   {ms(percentile(probes, 0.5))} {ms(percentile(probes, 0.95))}"
                f"  {run.requests:8d}  {run.errors:6d}"
                f"  {idle_cpu * 100:9.1f}  {idle_cpu * 1000 / count:6.3f} ms/s"
                f"  {ms(percentile(run.loop_lags or [float('nan')], 0.95))} ms"
            )
            if run.part_events:
                print(
                    f"         parts carried in {run.part_events} events"
                    f" ({run.part_bytes / run.part_events / 1024:.1f} KB each on average)"
                )
    print(
        "\ngoals: point p95 < 3 s to every viewer, other requests p95 < 100 ms, 0 errors (streaming,"
        " 1,000 viewers). Figures depend on what else the machine runs; the client shares its cores."
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe_main(*sys.argv[2:6])
    else:
        main()
