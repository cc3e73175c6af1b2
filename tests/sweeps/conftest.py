from __future__ import annotations

import pytest

from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import chat_jsonl


@pytest.fixture
def chat_versions(cast):
    """50 training and 10 validation conversations, both valid."""
    dataset = make_dataset(cast.project, name="colours", kind="chat", created_by=cast.member)
    train = make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    valid = make_version(
        dataset, content=chat_jsonl(range(50, 60)), example_count=10, split_role="validation"
    )
    return train, valid


@pytest.fixture
def local_sweep(cast, chat_versions):
    """Makes a local demo:tiny sweep over learning rate (and more, as asked) with the cast's member."""
    from finetune_portal.sweeps.services import sweep_create

    train, valid = chat_versions

    def make(*, space=None, max_concurrent=1, max_runs=10, strategy="grid", **extra):
        return sweep_create(
            project=cast.project,
            created_by=cast.member,
            provider="local_peft",
            name="lr sweep",
            fixed={
                "base_model": "demo:tiny",
                "method": "sft",
                "training_version": train.pk,
                "validation_version": valid.pk,
            },
            space=space or {"learning_rate": [1e-3, 5e-3, 1e-2]},
            strategy=strategy,
            max_runs=max_runs,
            max_concurrent=max_concurrent,
            **extra,
        )

    return make
