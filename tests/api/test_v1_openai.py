"""OpenAI models behind /v1: a project's OpenAI credential (here pointing at the stand-in), its fine-tuned
model and the base models, called with the openai SDK through the portal."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest
from django.utils import timezone

from devtools.openai_standin.state import DEPLOYING_SECONDS
from finetune_portal.credentials.services import credential_create
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.jobs.states import JobStatus
from finetune_portal.registry.services import fine_tuned_model_record
from tests.api.contract import assert_chunks_match, assert_error_matches, assert_response_matches, sse_chunks
from tests.factories import make_job
from tests.providers.openai.conftest import chat_lines

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("wind_down_day")]

HELLO = [{"role": "user", "content": "Where is my card?"}]


@pytest.fixture
def project_credential(cast, standin, settings):
    settings.OPENAI_REQUEST_TIMEOUT = 5.0
    return credential_create(
        kind="openai",
        secret="sk-standin-project-0000",
        label="Stand-in server (not OpenAI)",
        base_url=standin.base_url,
        project=cast.project,
        actor=cast.admin,
    )


def _fine_tuned(cast, standin, *, deployed: bool, finished_ago=timedelta(hours=2)) -> str:
    """A job that succeeded at the stand-in, recorded in the portal; its model name."""
    client = openai.OpenAI(api_key="sk-test", base_url=standin.base_url)
    upload = client.files.create(file=("train.jsonl", chat_lines()), purpose="fine-tune")
    remote = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=upload.id, suffix="cards"
    )
    standin.state.run_to_completion(remote.id)
    if deployed:
        standin.state.advance(DEPLOYING_SECONDS)
    name = client.fine_tuning.jobs.retrieve(remote.id).fine_tuned_model
    finished = timezone.now() - finished_ago
    job = make_job(
        cast.project,
        status=JobStatus.SUCCEEDED,
        provider_job_id=remote.id,
        finished_at=finished,
        status_changed_at=finished,
    )
    fine_tuned_model_record(job=job, base_model="gpt-4o-mini-2024-07-18", provider_model_id=name)
    return name


def test_the_project_s_openai_models_answer_through_v1_streamed_and_whole(
    cast, standin, project_credential, sdk
):
    name = _fine_tuned(cast, standin, deployed=True)

    listed = sdk.models.with_raw_response.list()
    assert_response_matches("GET", "/v1/models", 200, listed.http_response.json())
    ids = [m.id for m in listed.parse()]
    assert ids[0] == name
    assert "gpt-4o-mini-2024-07-18" in ids

    whole = sdk.chat.completions.create(model=name, messages=HELLO, temperature=0.2, max_tokens=50)
    assert whole.choices[0].message.content == f"(stand-in answer from {name}) You said: Where is my card?"
    assert whole.usage.total_tokens > 0

    with sdk.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini-2024-07-18", messages=HELLO, stream=True, stream_options={"include_usage": True}
    ) as response:
        chunks, done = sse_chunks(response.iter_lines())
    assert done
    assert_chunks_match(chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "(stand-in answer from gpt-4o-mini-2024-07-18) You said: Where is my card?"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 3
    assert chunks[-1]["usage"]["completion_tokens"] > 0

    sent = [r for r in standin.state.requests if r["path"] == "/v1/chat/completions"]
    assert sent[0]["body"]["model"] == name
    assert sent[0]["body"]["temperature"] == 0.2
    answers = ChatAnswer.objects.order_by("id")
    assert [a.source for a in answers] == ["api", "api"]
    assert answers[0].cost_usd is not None
    assert answers[0].cost_usd > 0


def test_a_fine_tuned_model_still_deploying_reads_not_ready_yet(cast, standin, project_credential, sdk):
    name = _fine_tuned(cast, standin, deployed=False, finished_ago=timedelta(seconds=5))

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model=name, messages=HELLO, stream=True)

    error = assert_error_matches(caught.value, "/v1/chat/completions")
    assert error["code"] == "model_not_ready"
    assert error["message"] == "Not ready yet: OpenAI is still deploying this model; try again in a minute."


def test_without_an_openai_credential_no_openai_model_is_offered(cast, sdk, standin):
    assert not [m.id for m in sdk.models.list() if m.id.startswith("gpt-")]
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="gpt-4o-mini-2024-07-18", messages=HELLO)
