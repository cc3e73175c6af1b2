"""Validate a dataset file from the command line with the same validator the worker runs.

Exit status: 0 when the file is valid, 1 when it is not, 2 on a usage error (bad option, missing file),
3 on an internal error of the validator (a one-line message; the traceback goes to the log).
"""

from __future__ import annotations

import logging
import os
import sys

import orjson
from django.core.management.base import BaseCommand, CommandError

from finetune_portal.datasets.validation import KINDS, validate_file
from finetune_portal.datasets.validation.crash import ValidationCrash
from finetune_portal.providers.registry import default_provider_key, provider_keys

logger = logging.getLogger(__name__)
EXIT_INVALID = 1
EXIT_INTERNAL_ERROR = 3


class Command(BaseCommand):
    help = (
        "Validate a JSONL training file: format rules, token counts, cost estimate. "
        "Exit status: 0 valid, 1 invalid, 2 usage error, 3 internal error of the validator."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--kind", default="auto", choices=("auto", *KINDS))
        parser.add_argument("--target", default=default_provider_key(), choices=provider_keys())
        parser.add_argument("--base-model", default=None)
        parser.add_argument("--json", action="store_true", help="Print the report as one JSON object.")
        parser.add_argument(
            "--workers", type=int, default=min(2, os.cpu_count() or 1), help="Processes to validate with."
        )

    def handle(self, *args, path, kind, target, base_model, json, workers, **options):
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}", returncode=2)
        if workers < 1:
            raise CommandError("--workers must be at least 1.", returncode=2)
        try:
            report = validate_file(path, kind=kind, target=target, base_model=base_model, workers=workers)
        except Exception as exc:
            logger.exception("Internal error while validating %s", path)
            what = (
                str(exc) if isinstance(exc, ValidationCrash) else f"internal error while validating: {exc!r}"
            )
            self.stderr.write(f"{what} (exit {EXIT_INTERNAL_ERROR}; the traceback is logged above)")
            sys.exit(EXIT_INTERNAL_ERROR)
        if json:
            self.stdout.write(orjson.dumps(report).decode())
        else:
            self._print_summary(report)
        if not report["valid"]:
            sys.exit(EXIT_INVALID)

    def _print_summary(self, report: dict) -> None:
        stats = report["stats"]
        verdict = self.style.SUCCESS("valid") if report["valid"] else self.style.ERROR("invalid")
        self.stdout.write(f"{verdict}: {report['examples']} {report['kind'] or 'unknown-kind'} example(s)")
        for error in report["errors"]:
            where = f"line {error['line']}" if error["line"] else "file"
            self.stdout.write(f"  error ({where}): {error['message']}")
        if report["error_count"] > len(report["errors"]):
            self.stdout.write(f"  ... {report['error_count'] - len(report['errors'])} more error(s)")
        for warning in report["warnings"]:
            where = f" (line {warning['line']})" if warning["line"] else ""
            self.stdout.write(f"  warning{where}: {warning['message']}")
        tokens = stats.get("tokens_per_example")
        if tokens:
            self.stdout.write(
                f"  tokens: {stats['total_tokens']} total; per example min {tokens['min']}, "
                f"mean {tokens['mean']}, p95 {tokens['p95']}, max {tokens['max']} ({stats['tokenizer']})"
            )
        if stats.get("estimated_cost_usd"):
            self.stdout.write(
                f"  estimate: {stats['default_epochs']} epoch(s), "
                f"{stats['estimated_billed_tokens']} billed tokens, ${stats['estimated_cost_usd']} "
                f"on {stats['base_model']} (prices of {stats['prices_taken_on']})"
            )
