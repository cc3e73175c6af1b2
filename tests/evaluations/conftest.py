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


@pytest.fixture
def tuned_job(cast):
    """Makes a succeeded job of the label provider on the reader base, with its model recorded."""
    from finetune_portal.jobs.states import JobStatus
    from finetune_portal.registry.services import fine_tuned_model_record
    from tests.factories import make_job

    def make(**fields):
        fields.setdefault("status", JobStatus.SUCCEEDED)
        job = make_job(
            cast.project,
            created_by=cast.member,
            provider=label_provider.KEY,
            base_model=label_provider.READER,
            **fields,
        )
        fine_tuned_model_record(
            job=job, base_model=label_provider.READER, adapter_uri=f"file:///adapters/{job.pk}"
        )
        return job

    return make


@pytest.fixture
def finished_evaluation(cast):
    """Makes a finished evaluation holding these per-model values, as the run's summary stores them."""
    from finetune_portal.evaluations.models import Evaluation, EvaluationStatus

    def make(version, values: dict[str, float], metric: str = "accuracy"):
        return Evaluation.objects.create(
            project=cast.project,
            version=version,
            metric=metric,
            model_names=list(values),
            status=EvaluationStatus.SUCCEEDED,
            results={"models": {name: {"value": value} for name, value in values.items()}},
        )

    return make
