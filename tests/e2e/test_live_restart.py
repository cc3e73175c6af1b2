"""An open job page across a restart of the web process: the points recorded while it was down reach
the chart once it is back (the stream resumes from its last event id and the chart asks for the gap)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from playwright.sync_api import expect

from finetune_portal.jobs.services import job_transition, metric_points_record
from tests.e2e.test_job_page import worker_points
from tests.factories import make_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, as the web process's DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WebProcess:
    """The portal under uvicorn in a process of its own, which the test can kill and start again."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from django.conf import settings

        # Under pytest-xdist the settings pick this worker's Redis database from PYTEST_XDIST_WORKER; the
        # web process is handed the URLs already picked, so it must not pick again.
        inherited = {name: value for name, value in os.environ.items() if name != "PYTEST_XDIST_WORKER"}
        env = {
            **inherited,
            "DATABASE_URL": database_url(),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "REDIS_URL": settings.REDIS_URL,
            # The channel this test's writers publish on (none without Redis: the process reads the job).
            "LIVE_REDIS_URL": settings.LIVE_REDIS_URL,
            "PYTHONWARNINGS": "ignore::UserWarning",
        }
        command = [sys.executable, "-m", "uvicorn", "tests.e2e.asgi_app:application"]
        command += ["--host=127.0.0.1", f"--port={self.port}", "--log-level=warning", "--lifespan=off"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the web process exited at start")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the web process did not start")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, the open streams are cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def web_process():
    web = WebProcess()
    web.start()
    yield web
    web.kill()


def values_in(points: list[dict]) -> int:
    """How many values the chart holds for these points (every metric of every step)."""
    return sum(len([name for name in point if name not in ("step", "total_steps")]) for point in points)


def test_killing_and_restarting_the_web_process_loses_no_point(browser, cast, web_process):
    job = make_job(cast.project, name="restart-sft", created_by=cast.member, status="submitted")
    job_transition(job=job, to="running", reason="Fine-tuning job started")
    metric_points_record(job=job, points=worker_points(1, 120))
    client = Client()
    client.force_login(cast.member)
    context = browser.new_context(base_url=web_process.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(30_000)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": web_process.url}]
    )
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"/p/{cast.project.slug}/jobs/{job.pk}/")
    chart = page.locator("#loss-chart")
    expect(chart).to_have_attribute("data-last-step", "120")
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    metric_points_record(job=job, points=worker_points(121, 122))
    expect(chart).to_have_attribute("data-last-step", "122")

    web_process.kill()
    metric_points_record(job=job, points=worker_points(123, 135))  # recorded while the page hears nothing
    page.wait_for_timeout(1000)
    assert chart.get_attribute("data-last-step") == "122"
    web_process.start()

    expect(chart).to_have_attribute("data-last-step", "135", timeout=30_000)
    metric_points_record(job=job, points=worker_points(136, 140))
    expect(chart).to_have_attribute("data-last-step", "140", timeout=30_000)
    expect(chart).to_have_attribute("data-point-count", str(values_in(worker_points(1, 140))))
    # It came back on the stream, which asked for the gap once: the page never fell back to polling.
    expect(page.locator("html")).to_have_attribute("data-live", "streaming")
    assert len([url for url in requests if "/jobs/live/" in url]) >= 2
    # Points that came while it was connected may arrive inline or be fetched after the last step held
    # (with Redis the notice can name only that there are new ones); the gap is fetched once, from 122,
    # and nothing is ever fetched again from before what the chart held.
    after = [int(url.rsplit("after_step=", 1)[1].split("&")[0]) for url in requests if "after_step=" in url]
    assert after.count(122) == 1
    assert min(after) >= 120
    context.close()
