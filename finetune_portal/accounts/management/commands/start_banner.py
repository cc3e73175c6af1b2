"""The banner `make run` prints once the web server answers: where to log in, as whom, how to change it."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from finetune_portal.accounts.banner import banner_password_take


def wait_until_answering(url: str, *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (a loopback URL from the Makefile)
                return True
        except urllib.error.HTTPError:
            return True  # it answered, even if not with 200
        except (urllib.error.URLError, OSError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)


def banner_lines(*, base_url: str, username: str, password: str | None) -> list[str]:
    login = base_url.rstrip("/") + "/accounts/login/"
    if password:
        secret = f"Password: {password}   (shown this once)"
    else:
        secret = (
            "Password: unchanged: use the password printed when the admin was created, "
            "or set a new one with `manage.py changepassword " + username + "`"
        )
    return [
        "finetune_portal is up",
        f"Log in:   {login}",
        f"User:     {username}",
        secret,
        f"Change it: .venv/bin/python manage.py changepassword {username}",
        "Ctrl-C stops web, workers and beat.",
    ]


class Command(BaseCommand):
    help = "Wait until the web server answers, then print the login URL, the demo admin and its password."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="The portal's base URL, e.g. http://127.0.0.1:8000/")
        parser.add_argument("--timeout", type=float, default=120.0, help="Seconds to wait for the server.")
        parser.add_argument(
            "--exit",
            action="store_true",
            help="Exit after printing. Without it the command stays idle: a Procfile runner stops every "
            "process as soon as one exits.",
        )

    def handle(self, *args, url: str, timeout: float, exit: bool, **options):
        health = url.rstrip("/") + "/healthz"
        if not wait_until_answering(health, timeout=timeout):
            raise CommandError(f"The web server did not answer at {health} within {timeout:.0f}s.")
        lines = banner_lines(
            base_url=url, username=settings.DEMO_ADMIN_USERNAME, password=banner_password_take()
        )
        width = max(len(line) for line in lines) + 4
        rule = "=" * width
        self.stdout.write("\n" + rule)
        for line in lines:
            self.stdout.write(f"  {line}")
        self.stdout.write(rule + "\n")
        self.stdout.flush()
        if not exit:
            threading.Event().wait()
