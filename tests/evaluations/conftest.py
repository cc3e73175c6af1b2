from __future__ import annotations

import json

import pytest

from tests.evaluations import label_provider
from tests.factories import make_dataset, make_version

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"
LABELS = ["POSITIVE", "NEGATIVE", "NEUTRAL"]


def review_lines(count: int) -> bytes:
    """Bank-review sentiment conversations: every third review is positive, negative, neutral."""
    lines = []
    for i in range(count):
        label = LABELS[i % 3]
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "Answer POSITIVE, NEGATIVE or NEUTRAL."},
                        {"role": "user", "content": f"Review {i}: the branch was fine ({label})."},
                        {"role": "assistant", "content": label},
                    ]
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def labels(settings):
    settings.FINETUNE_PROVIDERS = [OPENAI, label_provider.PATH]
    label_provider.LabelProvider.calls = []
    return label_provider.LabelProvider


@pytest.fixture
def reviews(cast):
    """A valid chat version of 30 labelled reviews."""
    dataset = make_dataset(cast.project, name="bank reviews", kind="chat", created_by=cast.member)
    return make_version(dataset, content=review_lines(30), example_count=30, split_role="validation")
