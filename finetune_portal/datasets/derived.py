"""Versions made from a valid version: a seeded training/validation split, and a conversion to chat."""

from __future__ import annotations

import random
import tempfile

import orjson
from django.core.files.storage import default_storage

from finetune_portal.datasets.errors import DatasetInputError
from finetune_portal.datasets.models import Dataset, DatasetKind, DatasetVersion, SplitRole, VersionStatus
from finetune_portal.datasets.validation.kinds import CHECKERS
from finetune_portal.datasets.versions import dataset_create, dataset_version_store, example_lines, local_copy


def _require_valid(version: DatasetVersion, action: str) -> None:
    if version.status != VersionStatus.VALID:
        raise DatasetInputError(
            f"Only a valid version can be {action}; v{version.number} is {version.status}."
        )


def convertible_to_chat(version: DatasetVersion) -> bool:
    """An Alpaca or prompt/completion version whose examples are all well formed: valid, or refused only
    because its target provider does not train that kind (which the conversion is the way out of)."""
    if version.dataset.kind not in (DatasetKind.ALPACA, DatasetKind.COMPLETION):
        return False
    if version.status == VersionStatus.VALID:
        return True
    report = version.validation_report or {}
    untrained = (report.get("stats") or {}).get("kind_trained") is False
    return version.status == VersionStatus.INVALID and untrained and report.get("error_count") == 1


def dataset_version_split(
    *, version: DatasetVersion, validation_fraction: float, seed: int, user
) -> tuple[DatasetVersion, DatasetVersion]:
    """Two new versions, training and validation; stratified by label when the answers are labels."""
    _require_valid(version, "split")
    if not 0 < validation_fraction < 1:
        raise DatasetInputError("The validation share must be between 0 and 100 percent, exclusive.")
    check = CHECKERS[version.dataset.kind]
    with local_copy(version) as path:
        # One byte per example: the index of its label (0 when there are no labels).
        label_ids: dict[str | None, int] = {}
        example_labels = bytearray()
        for line in example_lines(path):
            label = check(orjson.loads(line)).label
            if label not in label_ids and len(label_ids) < 250:
                label_ids[label] = len(label_ids)
            example_labels.append(label_ids.get(label, 255))
        stratify = (version.validation_report.get("stats") or {}).get("label_distribution") is not None
        if not stratify:
            example_labels = bytearray(len(example_labels))
        groups: dict[int, list[int]] = {}
        for index, label_id in enumerate(example_labels):
            groups.setdefault(label_id, []).append(index)
        rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
        in_validation = bytearray(len(example_labels))
        for members in groups.values():
            rng.shuffle(members)
            for index in members[: round(len(members) * validation_fraction)]:
                in_validation[index] = 1
        if not any(in_validation) or all(in_validation):
            raise DatasetInputError("Too few examples to split with that share; both parts need examples.")
        percent = round(validation_fraction * 100)
        with (
            tempfile.NamedTemporaryFile(suffix=".jsonl") as train,
            tempfile.NamedTemporaryFile(suffix=".jsonl") as validation,
        ):
            for index, line in enumerate(example_lines(path)):
                (validation if in_validation[index] else train).write(line + b"\n")
            train.flush()
            validation.flush()
            how = f"seed {seed}" + (", stratified by label" if stratify else "")
            common = {
                "dataset": version.dataset,
                "user": user,
                "parent": version,
                "target": version.validation_target,
                "base_model": version.validation_base_model,
            }
            train_version, train_created = dataset_version_store(
                local_path=train.name,
                note=f"Training split ({100 - percent}%) of v{version.number}, {how}",
                split_role=SplitRole.TRAIN,
                **common,
            )
            try:
                validation_version, _ = dataset_version_store(
                    local_path=validation.name,
                    note=f"Validation split ({percent}%) of v{version.number}, {how}",
                    split_role=SplitRole.VALIDATION,
                    **common,
                )
            except BaseException:
                # Half a split is no split: take the training part back out.
                if train_created:
                    default_storage.delete(train_version.file.name)
                    train_version.delete()
                raise
    return train_version, validation_version


def _as_chat(example: dict, kind: str) -> dict:
    if kind == DatasetKind.COMPLETION:
        return {
            "messages": [
                {"role": "user", "content": example["prompt"]},
                {"role": "assistant", "content": example["completion"]},
            ]
        }
    messages = [{"role": "system", "content": example["system"]}] if example.get("system") else []
    prompt = example["instruction"]
    if example.get("input"):
        prompt = f"{prompt}\n\n{example['input']}"
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": example["output"]}]
    return {"messages": messages}


def dataset_version_convert_to_chat(*, version: DatasetVersion, user) -> DatasetVersion:
    """Convert an Alpaca or prompt/completion version into a version of the sibling chat dataset."""
    source = version.dataset
    if source.kind not in (DatasetKind.ALPACA, DatasetKind.COMPLETION):
        raise DatasetInputError("Only Alpaca and prompt/completion versions convert to chat.")
    if not convertible_to_chat(version):
        _require_valid(version, "converted")
    name = f"{source.name} (chat)"[:120]
    target_dataset = Dataset.objects.filter(project=source.project, name=name).first()
    if target_dataset is None:
        target_dataset = dataset_create(
            project=source.project,
            name=name,
            kind=DatasetKind.CHAT,
            description=f"Chat conversion of {source.name}.",
            user=user,
        )
    elif target_dataset.kind != DatasetKind.CHAT:
        raise DatasetInputError(
            f"A dataset named {name!r} exists and is not a chat dataset; rename it first."
        )
    with local_copy(version) as path, tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        for line in example_lines(path):
            out.write(orjson.dumps(_as_chat(orjson.loads(line), source.kind)) + b"\n")
        out.flush()
        converted, _ = dataset_version_store(
            dataset=target_dataset,
            local_path=out.name,
            user=user,
            parent=version,
            note=f"Converted to chat from {source.name} v{version.number}",
            split_role=version.split_role,
            target=version.validation_target,
            base_model=version.validation_base_model,
        )
    return converted
