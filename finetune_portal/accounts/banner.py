"""The demo admin's first password, handed from ``ensure_demo_admin`` to the start-up banner of ``make run``.

The password is only known at the moment the admin is created, and the log of a starting worker scrolls it
away; so it waits in a file only its owner can read until the banner has printed it, and is then deleted.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def banner_password_path() -> Path:
    return Path(settings.DEMO_ADMIN_PASSWORD_FILE)


def banner_password_store(password: str) -> Path:
    """Write the password for the banner, readable by this user only (0600 from the moment it exists)."""
    path = banner_password_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password)
    return path


def banner_password_take() -> str | None:
    """The stored password, removed as it is read; None when the admin already existed."""
    path = banner_password_path()
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return password or None
