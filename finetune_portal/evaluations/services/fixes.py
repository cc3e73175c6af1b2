"""Fixing an evaluated item's reference in a new version of the dataset."""

from __future__ import annotations

import os
import tempfile

from django.db import transaction

from finetune_portal.core.audit import audit_log
from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.models import Evaluation, EvaluationItem


def evaluation_item_fix(*, evaluation: Evaluation, item: EvaluationItem, reference: str, user):
    """A new version of the evaluated dataset with this item's reference corrected (its parent the
    evaluated version). Returns (version, created): the same fix twice is the same version."""
    from finetune_portal.datasets.errors import DatasetInputError
    from finetune_portal.datasets.versions import dataset_version_store
    from finetune_portal.evaluations.items import with_fixed_reference

    reference = (reference or "").strip()
    if not reference:
        raise EvaluationInputError("The corrected reference is empty.", field="reference")
    version = evaluation.version
    content = with_fixed_reference(version, item.index, reference)
    handle, path = tempfile.mkstemp(suffix=".jsonl")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        with transaction.atomic():
            try:
                fixed, created = dataset_version_store(
                    dataset=version.dataset,
                    local_path=path,
                    user=user,
                    original_filename=f"{version.dataset.name}-v{version.number}-fix-{item.index}.jsonl",
                    note=(
                        f"v{version.number} with example {item.index + 1} corrected "
                        f"after evaluation {evaluation.pk}"
                    ),
                    parent=version,
                    split_role=version.split_role,
                    target=version.validation_target,
                    base_model=version.validation_base_model,
                )
            except DatasetInputError as exc:
                raise EvaluationInputError(str(exc)) from exc
            if created:
                audit_log(
                    actor=user,
                    action="evaluation.item.fix",
                    target=fixed,
                    project=evaluation.project,
                    data={"evaluation": evaluation.pk, "item": item.index},
                )
    finally:
        os.unlink(path)
    return fixed, created
