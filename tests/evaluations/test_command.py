"""manage.py evaluate: runs in process and waits, prints the result's JSON shape, and exits 0 / 1 / 2."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from finetune_portal.evaluations.services import answering
from tests.evaluations.label_provider import POSITIVE, READER

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _version_arg(version):
    return f"{version.dataset_id}:{version.number}"


def test_json_has_the_items_summary_and_verdict(cast, reviews):
    out, err = _run(
        "--project", cast.project.slug, "--version", _version_arg(reviews),
        "--model", READER, "--model", POSITIVE, "--metric", "accuracy", "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert data["metric"] == "accuracy"
    assert data["models"] == [READER, POSITIVE]
    assert len(data["items"]) == 30
    first = data["items"][1]
    assert first["reference"] == "NEGATIVE"
    assert first["input"][-1]["content"].startswith("Review 1:")
    assert first["outputs"] == {READER: "NEGATIVE", POSITIVE: "POSITIVE"}
    assert first["scores"] == {READER: 1.0, POSITIVE: 0.0}
    assert data["summary"] == {READER: 1.0, POSITIVE: pytest.approx(1 / 3)}
    verdict = data["verdict"]
    assert verdict["difference"] == pytest.approx(200 / 3)
    low, high = verdict["ci95"]
    assert low < verdict["difference"] < high
    assert verdict["p_value"] < 0.001
    assert verdict["test"] == "McNemar's exact test"
    assert verdict["n"] == 30
    assert f"Evaluation {data['id']}: 30 items" in err
    assert "60/60 answers scored" in err


def test_without_json_it_prints_the_id_and_summary(cast, reviews):
    out, _ = _run(
        "--project", cast.project.slug, "--version", _version_arg(reviews),
        "--model", READER, "--metric", "macro_f1",
    )  # fmt: skip
    assert out.splitlines()[0].endswith("succeeded (Macro F1)")
    assert f"  {READER}: 1.0000" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--project", "nope", "--version", "1:1", "--model", READER, "--metric", "bleu"], "No project"),
        (["--version", "x", "--model", READER, "--metric", "bleu"], "DATASET_ID:NUMBER"),
        (["--version", "999:1", "--model", READER, "--metric", "bleu"], "has no dataset version"),
        (["--version", "{v}", "--model", "ghost", "--metric", "bleu"], "is not a model"),
    ],
)
def test_usage_errors_exit_2(cast, reviews, args, words):
    args = [a.replace("{v}", _version_arg(reviews)) for a in args]
    if "--project" not in args:
        args = ["--project", cast.project.slug, *args]
    with pytest.raises(CommandError) as failed:
        _run(*args)
    assert failed.value.returncode == 2
    assert words in str(failed.value)


def test_an_unknown_metric_is_argparses_usage_error(cast, reviews):
    from django.core.management import get_commands, load_command_class

    command = load_command_class(get_commands()["evaluate"], "evaluate")
    parser = command.create_parser("manage.py", "evaluate")
    parser.called_from_command_line = True  # as from a shell: argparse exits 2
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--project", "x", "--version", "1:1", "--model", "m", "--metric", "nope"])
    assert exited.value.code == 2


def test_a_run_that_breaks_exits_1(cast, reviews, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(answering, "_answer_one", broken)
    with pytest.raises(CommandError) as failed:
        _run("--project", cast.project.slug, "--version", _version_arg(reviews), "--model", READER,
             "--metric", "accuracy")  # fmt: skip
    assert failed.value.returncode == 1
    assert "disk full" in str(failed.value)
    assert cast.project.evaluations.get().status == "failed"
