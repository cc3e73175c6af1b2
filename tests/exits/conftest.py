from __future__ import annotations

import openai
import pytest

from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.importer import jobs_import
from finetune_portal.registry.models import FineTunedModel
from tests.evaluations import label_provider
from tests.evaluations.conftest import review_lines
from tests.factories import make_dataset, make_job, make_version
from tests.providers.openai.conftest import chat_lines, openai_credential, standin, wind_down_day  # noqa: F401

OPENAI = "finetune_portal.providers.openai.provider.OpenAIProvider"


@pytest.fixture
def imported_model(cast, settings, standin, openai_credential, wind_down_day):  # noqa: F811
    """An OpenAI fine-tuned model imported from the account (OpenAI played by the stand-in), which
    answers chats; the local side is a provider living in the tests whose models answer POSITIVE."""
    settings.FINETUNE_PROVIDERS = [OPENAI, label_provider.PATH]
    client = openai.OpenAI(api_key="sk-test", base_url=standin.base_url)
    upload = client.files.create(file=("train.jsonl", chat_lines()), purpose="fine-tune")
    client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=upload.id, suffix="reviews")
    standin.state.run_to_completion()
    standin.state.advance(3600)  # deployed: it answers
    [job] = jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)
    job.refresh_from_db()
    return job


@pytest.fixture
def replacement(cast, imported_model):
    job = make_job(
        cast.project,
        provider=label_provider.KEY,
        status=JobStatus.SUCCEEDED,
        base_model=label_provider.POSITIVE,
        replaces=imported_model,
        created_by=cast.member,
        name="reviews on own GPUs",
    )
    FineTunedModel.objects.create(job=job, base_model=label_provider.POSITIVE, adapter_uri="memory://adapter")
    return job


def reviews_version(cast, count: int):
    dataset = make_dataset(
        cast.project, name=f"held-out reviews {count}", kind="chat", created_by=cast.member
    )
    return make_version(dataset, content=review_lines(count), example_count=count, split_role="validation")
