from __future__ import annotations

import json

import pytest

from devtools.openai_standin.state import StoredJob
from finetune_portal.registry.models import FineTunedModel
from tests.factories import make_dataset, make_job, make_version
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

MODEL_ID = "ft:gpt-4o-mini-2024-07-18:acme::capture1"


def question_lines(questions: list[str]) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": q},
                {"role": "assistant", "content": f"Old answer to {q}"},
            ]
        }
        for q in questions
    ]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def fine_tuned(cast, standin):  # noqa: F811
    """An OpenAI fine-tuned model of the project that the stand-in serves (deployed an hour ago)."""
    job = make_job(cast.project, created_by=cast.member, status="succeeded", imported=True)
    standin.state.jobs["ftjob-capture1"] = StoredJob(
        obj={
            "id": "ftjob-capture1",
            "status": "succeeded",
            "fine_tuned_model": MODEL_ID,
            "finished_at": standin.state.now - 3600,
        }
    )
    return FineTunedModel.objects.create(job=job, provider_model_id=MODEL_ID, base_model=job.base_model)


@pytest.fixture
def questions(cast):
    """A valid chat version of five questions, held out."""
    dataset = make_dataset(cast.project, name="support questions", kind="chat", created_by=cast.member)
    asked = [f"Question {i}: how do I reset my card PIN?" for i in range(5)]
    return make_version(
        dataset, content=question_lines(asked), status="valid", example_count=5, split_role="validation"
    )
