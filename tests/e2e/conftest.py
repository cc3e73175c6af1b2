"""The browser harness: Django's live server and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Playwright's sync API runs an event loop in this thread; Django's ORM is safe to use from the tests here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# Package scope: Playwright's sync API keeps an event loop running in the main thread while it is open,
# and the async tests that run after the browser tests (async_to_sync, asyncio.run) refuse to run there.
@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests skipped: Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def watch_csp(page) -> list[str]:
    """Collect the Content-Security-Policy violations the browser reports on this page."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


# Assertions wait as long as actions do (15 s, set per context below; Playwright's assertions default to
# 5 s): the suite runs in parallel processes on shared cores, where a page can take more than 5 s to load.
expect.set_options(timeout=15_000)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    violations = watch_csp(page)
    yield page
    context.close()
    # Every page a browser test visits runs under the CSP: a blocked script or style fails the test.
    assert violations == [], violations


@pytest.fixture
def screenshot(page):
    """Save a full-page PNG under the test-artifacts folder that CI keeps."""

    def take(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in(page):
    from tests.factories import PASSWORD

    def do(user) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/")

    return do


@pytest.fixture
def broker():
    """Launches from a page send to the broker: keep them off a developer's filesystem broker."""
    from finetune_portal.celery import app
    from tests.celery_support import memory_broker_if_filesystem

    with memory_broker_if_filesystem(app):
        yield


@pytest.fixture(scope="session")
def asgi_live_server(live_server):
    """The portal under uvicorn in a thread of this process, on the test database.

    Django's live server is WSGI: there the live stream answers 204 and pages poll. Pages that should
    stream are opened here instead. ``live_server`` comes first so the test database exists.
    """
    import socket
    import threading
    import time

    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        ASGIStaticFilesHandler(get_asgi_application()),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def streaming_context(browser, asgi_live_server):
    """A browser context on the ASGI server (where the live stream works)."""
    context = browser.new_context(base_url=asgi_live_server, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    yield context
    context.close()
