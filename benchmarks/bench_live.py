"""Load on the live job page: many viewers polling one long job, and the full downsampled view.

Builds its own data (one job of 100,000 metric points and one of 1,000) in the database DATABASE_URL
names, starts gunicorn on a loopback port and lets N simulated viewers poll the metrics endpoint the
way the job page does: the chart every 2 s, asking for the points after the last step they hold; the
HTMX status/events part when that poll reports a new live version, and every 10 s anyway. A writer
appends one point every 5 s, like a worker, so most polls find nothing new and some find one point.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/charts_bench python benchmarks/bench_live.py

Without DATABASE_URL it uses a throwaway SQLite file under var/ (say so when quoting figures: the
target is PostgreSQL). Environment knobs: BENCH_VIEWERS="50,200,500", BENCH_SECONDS=12,
BENCH_WORKERS=2 x cores, BENCH_THREADS=2, BENCH_POINTS=100000.
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

VIEWER_COUNTS = [int(n) for n in os.environ.get("BENCH_VIEWERS", "50,200,500").split(",")]
SECONDS_PER_RUN = float(os.environ.get("BENCH_SECONDS", "12"))
# Two processes per core with two threads each did far better under 500 viewers than 2 x 8 threads:
# the poll is CPU-bound Python, so processes rather than threads use both cores.
WORKERS = int(os.environ.get("BENCH_WORKERS", str(2 * (os.cpu_count() or 1))))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
LONG_JOB_POINTS = int(os.environ.get("BENCH_POINTS", "100000"))
SHORT_JOB_POINTS = 1000
POLL_INTERVAL = 2.0  # the job page's POLL_MS
LIVE_PARTS_INTERVAL = 10.0  # the job page's fallback hx-trigger for status and events
# A provider reports a step every few seconds; most polls therefore find nothing new.
WRITE_INTERVAL = 5.0
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


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",
        "CONN_MAX_AGE": "60",  # a pooled connection per thread, as a deployment would keep
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONWARNINGS": "ignore::UserWarning",  # whitenoise: no collected static files, none needed here
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "finetune_portal.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={WORKERS}",
        "--worker-class=gthread",
        f"--threads={THREADS}",
        "--keep-alive=30",
        "--log-level=warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


class Connection:
    """One keep-alive HTTP/1.1 connection, like a browser tab's."""

    def __init__(self, port: int, session: str):
        self.port, self.session = port, session
        self.reader = self.writer = None

    async def get(self, path: str, extra_headers: str = "") -> tuple[int, bytes]:
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def metrics_path(job_id: int, query: str) -> str:
    return f"/p/{SLUG}/jobs/{job_id}/metrics/?{query}"


async def viewers(port: int, session: str, job: dict, start_step: int, count: int, seconds: float):
    """Each viewer is one open job page: the chart's JSON poll and the HTMX poll of the live parts."""
    import json
    import re

    chart_latencies: list[float] = []
    live_latencies: list[float] = []
    counters = {"errors": 0, "new_points": 0, "live_renders": 0}
    stop_at = time.perf_counter() + seconds

    async def poll_loop(interval: float, request, handle, latencies, wake: asyncio.Event | None = None):
        connection = Connection(port, session)
        first_wait = random.uniform(0, interval)  # noqa: S311 - tabs opened at different moments
        if wake is None:
            await asyncio.sleep(first_wait)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), first_wait)
        try:
            while time.perf_counter() < stop_at:
                if wake is not None:
                    wake.clear()
                began = time.perf_counter()
                try:
                    status, body = await connection.get(*request())
                except (OSError, asyncio.IncompleteReadError):
                    counters["errors"] += 1
                    connection = Connection(port, session)
                    await asyncio.sleep(interval)
                    continue
                latencies.append(time.perf_counter() - began)
                handle(status, body)
                pause = max(0.0, min(interval - (time.perf_counter() - began), stop_at - time.perf_counter()))
                if wake is None:
                    await asyncio.sleep(pause)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), pause)
        finally:
            connection.close()

    def viewer():
        state = {"step": start_step, "version": job["live_version"]}
        live_changed = asyncio.Event()

        def chart_request():
            return (metrics_path(job["id"], f"after_step={state['step']}"), "Accept: application/json\r\n")

        def chart_handle(status, body):
            if status != 200:
                counters["errors"] += 1
                return
            payload = json.loads(body)
            if payload["series"]:
                counters["new_points"] += 1
            state["step"] = payload["last_step"] or state["step"]
            if payload["live_version"] != state["version"]:
                live_changed.set()

        def live_request():
            return (f"/p/{SLUG}/jobs/{job['id']}/?part=live&v={state['version']}", "HX-Request: true\r\n")

        def live_handle(status, body):
            if status == 200:
                counters["live_renders"] += 1
                found = re.search(rb"part=live&amp;v=([^\"]+)\"", body)
                state["version"] = found.group(1).decode() if found else state["version"]
            elif status != 204:
                counters["errors"] += 1

        return asyncio.gather(
            poll_loop(POLL_INTERVAL, chart_request, chart_handle, chart_latencies),
            poll_loop(LIVE_PARTS_INTERVAL, live_request, live_handle, live_latencies, live_changed),
        )

    started = time.perf_counter()
    await asyncio.gather(*(viewer() for _ in range(count)))
    return chart_latencies, live_latencies, counters, time.perf_counter() - started


def start_writer(job_id: int, first_step: int, stop: threading.Event) -> threading.Thread:
    """Append a point every WRITE_INTERVAL seconds, the way a worker records a provider's metrics."""

    def write():
        from django.db import connection

        from finetune_portal.jobs.models import FineTuningJob
        from finetune_portal.jobs.services import metric_points_record

        job = FineTuningJob.objects.get(pk=job_id)
        step = first_step
        while not stop.wait(WRITE_INTERVAL):
            step += 1
            metric_points_record(job=job, points=[{"step": step, "train_loss": 0.3}])
        connection.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


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


def live_version(job_id: int) -> str:
    from finetune_portal.jobs.models import FineTuningJob
    from finetune_portal.jobs.selectors.live import job_live_version_for

    return job_live_version_for(FineTuningJob.objects.get(pk=job_id))


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
    print(f"server: gunicorn, {WORKERS} workers x {THREADS} threads, loopback; cores: {os.cpu_count()}")
    port = free_port()
    server = start_server(port)
    try:
        # Warm up every worker's connections and templates.
        asyncio.run(
            sequential(port, data["session"], metrics_path(data["long"], f"after_step={LONG_JOB_POINTS}"), 20)
        )

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
        for extra_step in range(1, 11):
            # The job grows between views, as it does while people open the page during a run.
            metric_points_record_step(data["long"], LONG_JOB_POINTS + extra_step)
            lat += asyncio.run(sequential(port, data["session"], metrics_path(data["long"], ""), 1))
        print(
            f"  over HTTP while the job grows (cached view + new points): p50 {ms(statistics.median(lat))} ms"
            f"  max {ms(max(lat))} ms   (target < 300 ms)"
        )

        print(
            f"\nViewers (chart every {POLL_INTERVAL}s, live parts every {LIVE_PARTS_INTERVAL:.0f}s)"
            f" for {SECONDS_PER_RUN:.0f}s,"
            f" a writer adds 1 point every {WRITE_INTERVAL:.0f}s:"
        )
        print("  chart = JSON poll for points; live = HTMX poll of status and events (204 when unchanged)")
        print("      N  poll   requests   req/s    p50 ms   p95 ms   p99 ms  answered with data")
        step = last_step(data["long"])
        job = {"id": data["long"], "live_version": live_version(data["long"])}
        for count in VIEWER_COUNTS:
            job["live_version"] = live_version(data["long"])
            stop = threading.Event()
            writer = start_writer(data["long"], step, stop)
            chart, live, counters, elapsed = asyncio.run(
                viewers(port, data["session"], job, step, count, SECONDS_PER_RUN)
            )
            stop.set()
            writer.join()
            step = last_step(data["long"])
            for kind, lat, answered in (
                ("chart", chart, counters["new_points"]),
                ("live", live, counters["live_renders"]),
            ):
                print(
                    f"  {count:5d}  {kind:5s} {len(lat):9d}  {len(lat) / elapsed:6.1f}  "
                    f"{ms(percentile(lat, 0.5))}  {ms(percentile(lat, 0.95))}  {ms(percentile(lat, 0.99))}"
                    f"  {answered:6d}"
                )
            print(
                f"  {count:5d}  all   {len(chart) + len(live):9d}  {(len(chart) + len(live)) / elapsed:6.1f}"
                f"   errors: {counters['errors']}"
            )
        print("\ntarget: p95 < 50 ms for 'nothing new' polls; figures depend on what else the machine runs.")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
