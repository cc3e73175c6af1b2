"""Dataset validation: one streaming validator for the worker, the command line and the benchmark."""

from __future__ import annotations

from finetune_portal.datasets.validation.kinds import KINDS
from finetune_portal.datasets.validation.report import validate_file

__all__ = ["KINDS", "validate_file"]
