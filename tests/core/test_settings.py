from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "DEBUG"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def production_env() -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": Fernet.generate_key().decode() + Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": "sqlite:///:memory:",
    }


def test_production_mode_passes_check_deploy_with_no_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_development_defaults_need_no_services():
    result = run_manage("check", env={"DATABASE_URL": "sqlite:///:memory:", "REDIS_URL": ""})
    assert result.returncode == 0, result.stderr


def test_the_rate_limit_accepts_djangos_redis_cache_and_refuses_a_cache_that_cannot_count():
    # Checks only read the settings: no Redis server is needed for the first.
    redis = run_manage(
        "check", env={"DATABASE_URL": "sqlite:///:memory:", "CACHE_URL": "redis://127.0.0.1:1/1"}
    )
    assert redis.returncode == 0, redis.stderr
    database = run_manage(
        "check", env={"DATABASE_URL": "sqlite:///:memory:", "CACHE_URL": "dbcache://cache_table"}
    )
    assert database.returncode != 0
    assert "django_ratelimit.E003" in database.stderr


def test_each_parallel_test_process_gets_its_own_redis_database(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from finetune_portal.settings import _redis_url_of_test_process as of_test_process

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert of_test_process("redis://127.0.0.1:6379/10") == "redis://127.0.0.1:6379/10"

    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert of_test_process("redis://127.0.0.1:6379/10") == "redis://127.0.0.1:6379/10"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert of_test_process("redis://127.0.0.1:6379/10") == "redis://127.0.0.1:6379/11"
    assert of_test_process("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379/1"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    assert of_test_process("rediss://:secret@cache.example:6380/0") == "rediss://:secret@cache.example:6380/2"
    # What is not Redis is left alone: no URL, the filesystem broker, local memory.
    assert of_test_process("") == ""
    assert of_test_process("filesystem://") == "filesystem://"
    assert of_test_process("locmemcache://") == "locmemcache://"
    # Redis numbers its databases 0-15: a worker past that is refused, not wrapped onto another's.
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw6")
    with pytest.raises(ImproperlyConfigured, match="database 16"):
        of_test_process("redis://127.0.0.1:6379/10")
