"""Run an evaluation from a script or CI and wait for it.

The batches run in this process, one after another (not on a Celery worker), so the command needs no
worker and its exit code is the run's outcome. Progress goes to stderr; the id and summary (or with
--json the whole result) to stdout. Exit 0 when it ran, 1 when it failed, 2 on a usage error.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.metrics import METRICS
from finetune_portal.evaluations.models import EvaluationStatus
from finetune_portal.evaluations.selectors import evaluation_result_json
from finetune_portal.evaluations.services import evaluation_run_in_process, evaluation_start
from finetune_portal.projects.models import Project


class UsageError(CommandError):
    def __init__(self, message: str):
        super().__init__(message, returncode=2)


class Command(BaseCommand):
    help = "Evaluate models on a dataset version and wait for the result (runs in this process)."
    # --version names the dataset version here, not the program's version: ours replaces Django's.
    suppressed_base_arguments = {"--version"}

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="The project's slug.")
        parser.add_argument("--version", required=True, help="DATASET_ID:NUMBER")
        parser.add_argument("--model", action="append", required=True, help="A served model name (repeat).")
        parser.add_argument("--metric", required=True, choices=sorted(METRICS))
        parser.add_argument("--judge", default="", help="The judge model (with --metric judge).")
        parser.add_argument("--rubric", default="", help="What the judge grades by (with --metric judge).")
        parser.add_argument("--max-tokens", type=int, default=128)
        parser.add_argument("--cost-cap", default=None, help="Refuse when the estimate passes this (USD).")
        parser.add_argument("--json", action="store_true", help="Print the whole result as JSON.")

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise UsageError(f"No project {options['project']!r}.")
        version = self._version(project, options["version"])
        cap = None
        if options["cost_cap"] is not None:
            try:
                cap = Decimal(options["cost_cap"])
            except InvalidOperation:
                raise UsageError("--cost-cap must be a number of dollars.") from None
        try:
            evaluation = evaluation_start(
                project=project,
                user=None,
                version=version,
                model_names=options["model"],
                metric=options["metric"],
                judge_model=options["judge"],
                rubric=options["rubric"],
                max_tokens=options["max_tokens"],
                cost_cap_usd=cap,
                enqueue=False,
            )
        except EvaluationInputError as exc:
            raise UsageError(exc.message) from None
        self.stderr.write(f"Evaluation {evaluation.pk}: {evaluation.item_count} items, running here.")

        def progress(done: int, total: int) -> None:
            self.stderr.write(f"  {done}/{total} answers scored")

        try:
            evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk, progress=progress)
        except Exception as exc:
            evaluation.status = EvaluationStatus.FAILED
            evaluation.error = f"{type(exc).__name__}: {exc}"
            evaluation.save(update_fields=["status", "error"])
            raise CommandError(
                f"Evaluation {evaluation.pk} failed: {evaluation.error}", returncode=1
            ) from exc
        data = evaluation_result_json(evaluation)
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self._print_summary(evaluation, data)
        if evaluation.status != EvaluationStatus.SUCCEEDED:
            sys.exit(1)

    def _version(self, project, value: str) -> DatasetVersion:
        dataset_id, _, number = value.partition(":")
        if not (dataset_id.isdigit() and number.isdigit()):
            raise UsageError("--version is DATASET_ID:NUMBER, for example 12:3.")
        version = (
            DatasetVersion.objects.filter(
                dataset_id=int(dataset_id), number=int(number), dataset__project=project
            )
            .select_related("dataset")
            .first()
        )
        if version is None:
            raise UsageError(f"Project {project.slug} has no dataset version {value}.")
        return version

    def _print_summary(self, evaluation, data: dict) -> None:
        self.stdout.write(
            f"evaluation {evaluation.pk} {evaluation.status} ({evaluation.get_metric_display()})"
        )
        for name, value in data["summary"].items():
            shown = "n/a" if value is None else f"{value:.4f}"
            self.stdout.write(f"  {name}: {shown}")
        if data["verdict"]:
            self.stdout.write(data["verdict"]["words"])
