"""`make run`'s processes and its login banner: the demo admin's password shows after start-up, once."""

from __future__ import annotations

import re
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def web_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def password_file(settings, tmp_path):
    settings.DEMO_ADMIN_PASSWORD_FILE = tmp_path / "var" / "demo-admin-password"
    return settings.DEMO_ADMIN_PASSWORD_FILE


@pytest.mark.django_db
def test_a_new_admins_password_waits_privately_and_the_banner_prints_it_once(
    settings, password_file, web_server, capsys
):
    settings.DEMO_ADMIN_USERNAME = "admin"
    settings.DEMO_ADMIN_PASSWORD = ""

    call_command("ensure_demo_admin", "--for-banner")
    created_log = capsys.readouterr().out
    password = password_file.read_text()
    assert password
    assert password not in created_log, "the start-up log must not carry the password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600

    call_command("start_banner", "--url", web_server, "--exit", "--timeout", "5")
    banner = capsys.readouterr().out
    assert f"{web_server}accounts/login/" in banner
    assert "User:     admin" in banner
    assert f"Password: {password}" in banner
    assert "manage.py changepassword admin" in banner
    assert not password_file.exists(), "the password is deleted once printed"
    assert authenticate(username="admin", password=password) is not None

    call_command("start_banner", "--url", web_server, "--exit", "--timeout", "5")
    again = capsys.readouterr().out
    assert password not in again
    assert "unchanged" in again


@pytest.mark.django_db
def test_an_existing_admin_gets_no_password_file(settings, password_file, capsys):
    settings.DEMO_ADMIN_PASSWORD = "first-password-123"
    call_command("ensure_demo_admin", "--for-banner")
    password_file.unlink()
    call_command("ensure_demo_admin", "--for-banner")
    assert "already exists" in capsys.readouterr().out
    assert not password_file.exists()


def test_the_banner_gives_up_with_a_message_when_the_server_never_answers(password_file):
    with pytest.raises(CommandError, match="did not answer"):
        call_command("start_banner", "--url", "http://127.0.0.1:9/", "--exit", "--timeout", "0.5")


def _workers(text: str) -> dict[frozenset[str], int]:
    """Each Celery worker's queues and concurrency in a Procfile or compose file."""
    found = {}
    for line in text.splitlines():
        if "celery -A finetune_portal worker" not in line:
            continue
        queues = re.search(r"--queues (\S+)", line).group(1)
        concurrency = int(re.search(r"--concurrency (\d+)", line).group(1))
        found[frozenset(queues.split(","))] = concurrency
    return found


def test_make_run_starts_the_same_workers_as_docker_compose():
    procfile = _workers((ROOT / "Procfile.dev").read_text())
    compose = _workers((ROOT / "docker-compose.yml").read_text())

    assert procfile == compose
    assert procfile[frozenset({"gpu"})] == 1, "one training at a time, apart from validation and OpenAI"
    assert frozenset({"default", "openai"}) in procfile
    makefile = (ROOT / "Makefile").read_text()
    started = re.search(r"honcho start -f Procfile\.dev ([^$\n]+)", makefile).group(1).split()
    lines = (ROOT / "Procfile.dev").read_text().splitlines()
    procfile_names = {line.split(":")[0] for line in lines if not line.startswith("#")}
    for name in ("web", "worker", "gpu-worker", "beat", "banner"):
        assert name in started
        assert name in procfile_names
