"""The validate_dataset command's contract: one JSON object with --json, exit 0 / 1 / 2 / 3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.datasets.samples import chats, lines_of, write

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "validate_dataset", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_valid_file_prints_one_json_object_and_exits_0(tmp_path):
    path = write(tmp_path, lines_of(chats(12)))

    result = run_cli(str(path), "--json", "--base-model", "gpt-4o-mini")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"valid", "kind", "examples", "errors", "error_count", "warnings", "stats"}
    assert report["valid"] is True
    assert report["kind"] == "chat"
    assert report["examples"] == report["stats"]["examples"] == 12
    assert isinstance(report["stats"]["total_tokens"], int)
    assert report["stats"]["total_tokens"] > 0


def test_an_invalid_file_exits_1_with_line_numbers(tmp_path):
    path = write(tmp_path, lines_of([*chats(11), "oops", *chats(1)]))

    result = run_cli(str(path), "--json", "--kind", "chat", "--target", "openai")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["error_count"] == 1
    assert report["errors"][0]["line"] == 12
    assert report["errors"][0]["message"].startswith("Not valid JSON")


def test_errors_without_a_line_have_line_null(tmp_path):
    result = run_cli(str(write(tmp_path, b"")), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["errors"] == [{"line": None, "message": "The file is empty."}]


def test_usage_errors_exit_2(tmp_path):
    path = write(tmp_path, lines_of(chats(12)))
    assert run_cli(str(tmp_path / "missing.jsonl"), "--json").returncode == 2
    assert run_cli(str(path), "--kind", "poetry").returncode == 2
    assert run_cli(str(path), "--target", "mars").returncode == 2


def test_without_json_it_prints_a_readable_summary(tmp_path):
    path = write(tmp_path, lines_of([*chats(11), "oops"]))
    result = run_cli(str(path))
    assert result.returncode == 1
    assert "invalid: 12 chat example(s)" in result.stdout
    assert "error (line 12): Not valid JSON" in result.stdout


def test_an_internal_error_exits_3_with_one_line_and_logs_the_traceback(
    tmp_path, monkeypatch, caplog, capsys
):
    from finetune_portal.datasets.validation.kinds import CHECKERS

    def broken_check(example):
        raise TypeError("unhashable type: 'dict'")

    monkeypatch.setitem(CHECKERS, "chat", broken_check)
    path = write(tmp_path, b"\n".join([b"not json"] * 3 + [lines_of(chats(1))]))

    with pytest.raises(SystemExit) as exited:
        call_command("validate_dataset", str(path), "--kind", "chat", "--workers", "1")

    assert exited.value.code == 3
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed == [
        "internal error while validating, line 4: TypeError: unhashable type: 'dict' "
        "(exit 3; the traceback is logged above)"
    ]
    logged = [r for r in caplog.records if r.getMessage().startswith("Internal error while validating")]
    assert logged
    assert logged[0].exc_info is not None


def test_the_exit_statuses_are_in_the_help():
    result = run_cli("--help")
    assert "3 internal error" in " ".join(result.stdout.split())
