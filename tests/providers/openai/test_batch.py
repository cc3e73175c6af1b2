"""The OpenAI provider's Batch API through the real SDK against the stand-in: a batch sent, found again by
its tag, read back with answers, refusals and per-request errors, and cancelled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from finetune_portal.providers.base import BATCH_DONE, BATCH_RUNNING, BatchRequest, ProviderError
from finetune_portal.providers.chat import ChatSettings, ServedModel
from finetune_portal.providers.registry import get_provider
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]

BASE = "gpt-4o-mini-2024-07-18"


def _model(name: str = BASE) -> ServedModel:
    return ServedModel(name=name, label=name, provider="openai", kind="base", provider_model=name)


def _request(key: str, text: str) -> BatchRequest:
    return BatchRequest(key, [{"role": "user", "content": text}], ChatSettings(temperature=0, max_tokens=20))


def test_a_batch_is_sent_once_per_tag_and_read_back_with_refusals_and_errors(cast, standin):  # noqa: F811
    provider = get_provider("openai")
    assert provider.capabilities.batch
    standin.state.faults.refuse_containing.append("forbidden")
    requests = [_request("a", "hello"), _request("b", "forbidden")]

    batch_id = provider.batch_submit(project=cast.project, model=_model(), requests=requests, tag="t-1")
    again = provider.batch_submit(project=cast.project, model=_model(), requests=requests, tag="t-1")

    assert again == batch_id
    assert len(standin.state.batches) == 1
    running = provider.batch_check(project=cast.project, model=_model(), batch_id=batch_id)
    assert running.state == BATCH_RUNNING
    assert running.provider_status == "in_progress"

    standin.state.advance(61)
    done = provider.batch_check(project=cast.project, model=_model(), batch_id=batch_id)

    assert done.state == BATCH_DONE
    results = {r.key: r for r in done.results}
    assert results["a"].output == f"(stand-in answer from {BASE}) You said: hello"
    assert results["a"].error == ""
    # Half of the direct price for the same tokens.
    direct = (
        Decimal("0.15") * results["a"].prompt_tokens + Decimal("0.60") * results["a"].completion_tokens
    ) / Decimal(1_000_000)
    assert abs(results["a"].cost_usd - direct / 2) <= Decimal("0.000001")
    assert results["b"].code == "refusal"
    assert results["b"].error == "The model refused: I'm sorry, I can't help with that."


def test_an_unknown_model_fails_its_requests_in_the_error_file(cast, standin):  # noqa: F811
    provider = get_provider("openai")
    model = _model("ft:gpt-4o-mini-2024-07-18:acme::gone")
    batch_id = provider.batch_submit(
        project=cast.project, model=model, requests=[_request("x", "hi")], tag="t"
    )
    standin.state.advance(61)
    (result,) = provider.batch_check(project=cast.project, model=model, batch_id=batch_id).results
    assert result.code == "model_not_found"
    assert "does not exist" in result.error


def test_a_batch_is_cancelled_and_a_finished_one_cannot_be(cast, standin):  # noqa: F811
    provider = get_provider("openai")
    batch_id = provider.batch_submit(
        project=cast.project, model=_model(), requests=[_request("x", "hi")], tag="c"
    )
    provider.batch_cancel(project=cast.project, model=_model(), batch_id=batch_id)
    state = provider.batch_check(project=cast.project, model=_model(), batch_id=batch_id)
    assert state.provider_status == "cancelled"
    other = provider.batch_submit(
        project=cast.project, model=_model(), requests=[_request("y", "hi")], tag="d"
    )
    standin.state.advance(61)
    provider.batch_check(project=cast.project, model=_model(), batch_id=other)
    with pytest.raises(ProviderError) as refused:
        provider.batch_cancel(project=cast.project, model=_model(), batch_id=other)
    assert "Cannot cancel a batch with status 'completed'" in refused.value.message
