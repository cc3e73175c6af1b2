"""Chats with OpenAI models through the real SDK, against the stand-in: streaming, the settings as
OpenAI's parameters, the deploy window's 404 read as "not ready yet", shut-down models refused without a
call, and what each answer cost."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import openai
import pytest
from django.utils import timezone

from devtools.openai_standin.state import DEPLOYING_SECONDS
from finetune_portal.inference.catalog import served_model_of, served_model_of_checkpoint
from finetune_portal.jobs.services import checkpoint_record
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ModelNotReady, ModelShutDown, ProviderError
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings
from finetune_portal.providers.openai import catalog
from finetune_portal.providers.registry import get_provider
from finetune_portal.registry.services import fine_tuned_model_record
from tests.factories import make_job
from tests.providers.openai.conftest import chat_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day")]

HELLO = [{"role": "user", "content": "Where is my card?"}]


def _remote_model(standin, *, base: str = "gpt-4o-mini-2024-07-18", deployed: bool = True):
    """A job that succeeded at the stand-in: its model name and its checkpoints' names."""
    client = openai.OpenAI(api_key="sk-test", base_url=standin.base_url)
    upload = client.files.create(file=("train.jsonl", chat_lines()), purpose="fine-tune")
    remote = client.fine_tuning.jobs.create(model=base, training_file=upload.id, suffix="cards")
    standin.state.run_to_completion(remote.id)
    if deployed:
        standin.state.advance(DEPLOYING_SECONDS)
    remote = client.fine_tuning.jobs.retrieve(remote.id)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(remote.id).data
    return remote.fine_tuned_model, {c.step_number: c.fine_tuned_model_checkpoint for c in checkpoints}


def _portal_model(cast, name: str, *, finished_ago: timedelta = timedelta(hours=2)):
    finished = timezone.now() - finished_ago
    job = make_job(
        cast.project,
        status=JobStatus.SUCCEEDED,
        provider_job_id=f"ftjob-{name[-8:]}",
        finished_at=finished,
        status_changed_at=finished,
    )
    return fine_tuned_model_record(job=job, base_model=name.split(":")[1], provider_model_id=name)


DEFAULTS = ChatSettings()


def _chat(cast, model, settings=DEFAULTS, messages=HELLO):
    return list(
        get_provider("openai").chat_stream(
            project=cast.project, model=model, messages=messages, settings=settings
        )
    )


def _chat_requests(standin) -> list[dict]:
    return [r for r in standin.state.requests if r["path"] == "/v1/chat/completions"]


def test_a_fine_tuned_model_streams_its_answer_with_usage_and_cost(cast, standin, openai_credential):
    name, _ = _remote_model(standin)
    model = served_model_of(_portal_model(cast, name))

    events = _chat(cast, model)

    pieces = [e.text for e in events if isinstance(e, ChatDelta)]
    done = events[-1]
    assert len(pieces) > 3  # piece by piece, not one block
    assert "".join(pieces) == f"(stand-in answer from {name}) You said: Where is my card?"
    assert isinstance(done, ChatDone)
    assert done.finish_reason == "stop"
    assert done.completion_tokens == len(pieces)
    assert done.prompt_tokens == len("Where is my card?") // 4 + 1
    # gpt-4o-mini fine-tuned: $0.30 in and $1.20 out per 1M tokens.
    expected = (Decimal("0.30") * done.prompt_tokens + Decimal("1.20") * done.completion_tokens) / 1_000_000
    assert done.cost_usd == expected.quantize(Decimal("0.000001"))
    assert done.cost_usd > 0


def test_the_settings_become_openais_parameters(cast, standin, openai_credential):
    name, _ = _remote_model(standin)
    model = served_model_of(_portal_model(cast, name))
    settings = ChatSettings(
        system_prompt="You are the bank's assistant.",
        temperature=0.3,
        top_p=0.8,
        max_tokens=3,
        stop=("###", "END"),
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
    )

    events = _chat(cast, model, settings)

    sent = _chat_requests(standin)[-1]["body"]
    assert sent["model"] == name
    assert sent["messages"] == [{"role": "system", "content": "You are the bank's assistant."}, *HELLO]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert {k: sent[k] for k in ("temperature", "top_p", "max_completion_tokens", "seed")} == {
        "temperature": 0.3,
        "top_p": 0.8,
        "max_completion_tokens": 3,
        "seed": 42,
    }
    assert (sent["stop"], sent["presence_penalty"], sent["frequency_penalty"]) == (["###", "END"], 0.5, -0.5)
    assert "max_tokens" not in sent
    assert events[-1].finish_reason == "length"
    assert events[-1].completion_tokens == 3


def test_unset_settings_are_left_to_openai_and_a_conversations_own_system_message_is_kept(
    cast, standin, openai_credential
):
    name, _ = _remote_model(standin)
    model = served_model_of(_portal_model(cast, name))
    own = [{"role": "system", "content": "Reply in French."}, *HELLO]

    _chat(cast, model, ChatSettings(system_prompt="Reply in English."), messages=own)

    sent = _chat_requests(standin)[-1]["body"]
    assert sent["messages"] == own
    assert not {"temperature", "top_p", "max_completion_tokens", "stop", "seed"} & set(sent)


def test_a_model_that_just_succeeded_is_not_ready_yet_rather_than_missing(cast, standin, openai_credential):
    name, checkpoints = _remote_model(standin, deployed=False)
    fine_tuned = _portal_model(cast, name, finished_ago=timedelta(minutes=1))
    step = min(checkpoints)
    checkpoint = checkpoint_record(job=fine_tuned.job, step=step, provider_checkpoint_id=checkpoints[step])

    for model in (served_model_of(fine_tuned), served_model_of_checkpoint(checkpoint)):
        with pytest.raises(ModelNotReady) as refused:
            _chat(cast, model)
        assert (
            str(refused.value)
            == "Not ready yet: OpenAI is still deploying this model; try again in a minute."
        )
        assert refused.value.permanent is False
        assert refused.value.code == "model_not_ready"

    standin.state.advance(DEPLOYING_SECONDS)
    assert isinstance(_chat(cast, served_model_of_checkpoint(checkpoint))[-1], ChatDone)


def test_a_model_missing_long_after_its_job_ended_is_an_error_in_openais_words(
    cast, standin, openai_credential
):
    model = served_model_of(_portal_model(cast, "ft:gpt-4o-mini-2024-07-18:standin-org:gone:abc"))

    with pytest.raises(ProviderError) as refused:
        _chat(cast, model)

    assert not isinstance(refused.value, ModelNotReady)
    assert "does not exist or you do not have access to it" in refused.value.message
    assert refused.value.permanent is True


@pytest.mark.parametrize(
    "name", ["ft:gpt-3.5-turbo-0125:standin-org:old:abc123", "ft:gpt-4.1-nano-2025-04-14:standin-org::x"]
)
def test_a_model_past_its_shutdown_date_is_refused_without_calling_openai(
    cast, standin, openai_credential, name
):
    model = served_model_of(_portal_model(cast, name))

    with pytest.raises(ModelShutDown) as refused:
        _chat(cast, model)

    assert "no longer answers" in refused.value.message
    assert "23 October 2026" in refused.value.message
    assert refused.value.permanent is True
    assert _chat_requests(standin) == []


def test_a_project_without_an_openai_credential_is_told_so(cast, standin):
    name, _ = _remote_model(standin)
    model = served_model_of(_portal_model(cast, name))

    with pytest.raises(ProviderError, match="No OpenAI credential is configured"):
        _chat(cast, model)
    assert get_provider("openai").chat_base_models(cast.project) == []


def test_base_models_offered_are_the_chat_models_that_still_answer(cast, standin, openai_credential):
    offered = {m.name: m for m in get_provider("openai").chat_base_models(cast.project)}

    assert set(offered) == {
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
    }
    base = offered["gpt-4o-mini-2024-07-18"]
    assert (base.kind, base.provider, base.provider_model) == ("base", "openai", "gpt-4o-mini-2024-07-18")

    done = _chat(cast, base)[-1]
    # Base gpt-4o-mini: $0.15 in and $0.60 out per 1M tokens.
    expected = (Decimal("0.15") * done.prompt_tokens + Decimal("0.60") * done.completion_tokens) / 1_000_000
    assert done.cost_usd == expected.quantize(Decimal("0.000001"))


def test_prices_and_shutdown_dates_follow_a_fine_tuned_model_to_its_base():
    assert catalog.shutdown_on("ft:gpt-4o-mini-2024-07-18:org:x:abc:ckpt-step-10") == date(2027, 1, 14)
    assert catalog.shutdown_on("gpt-4.1-nano") == date(2026, 10, 23)
    assert catalog.shutdown_on("my-own-model") is None
    assert catalog.is_shut_down("gpt-4.1-nano-2025-04-14", today=date(2026, 10, 23))
    assert not catalog.is_shut_down("gpt-4.1-nano-2025-04-14", today=date(2026, 10, 22))
    tokens = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert catalog.chat_cost("ft:gpt-4.1-mini-2025-04-14:org::abc", **tokens) == Decimal("4.00")
    assert catalog.chat_cost("gpt-4.1-mini", **tokens) == Decimal("2.00")
    assert catalog.chat_cost("ft:llama-3:org::abc", **tokens) is None
    assert catalog.chat_cost("gpt-4o-mini", prompt_tokens=None, completion_tokens=None) is None
