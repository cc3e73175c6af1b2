"""What a provider's refusals and the project's rate limit look like to an openai SDK caller."""

from __future__ import annotations

import openai
import pytest

from finetune_portal.inference.models import ChatAnswer
from finetune_portal.providers.base import ModelNotReady, ModelShutDown, ProviderError
from tests.api.contract import assert_error_matches

pytestmark = pytest.mark.django_db(transaction=True)

HELLO = [{"role": "user", "content": "Hi there"}]
PATH = "/v1/chat/completions"


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_not_ready_yet_is_a_404_that_says_try_again(sdk, scripted, adapter, stream):
    scripted.script = []
    scripted.fail_after = ModelNotReady(
        "Not ready yet: OpenAI is still deploying this model; try again in a minute."
    )

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model=adapter.name, messages=HELLO, stream=stream)

    error = assert_error_matches(caught.value, PATH)
    assert (error["code"], error["param"]) == ("model_not_ready", "model")
    assert error["message"].startswith("Not ready yet")
    assert ChatAnswer.objects.get().error.startswith("Not ready yet")


def test_a_model_past_its_shutdown_says_so_plainly(sdk, scripted, adapter):
    scripted.script = []
    scripted.fail_after = ModelShutDown("This model no longer answers: it was shut down on 14 October 2026.")

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model=adapter.name, messages=HELLO)

    error = assert_error_matches(caught.value, PATH)
    assert error["code"] == "model_shut_down"
    assert "shut down on 14 October 2026" in error["message"]


def test_a_passing_provider_failure_is_a_503_the_sdk_may_retry(sdk, scripted, adapter):
    scripted.script = []
    scripted.fail_after = ProviderError("Could not reach the engine.", permanent=False, code="connection")

    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model=adapter.name, messages=HELLO)

    assert caught.value.status_code == 503
    assert assert_error_matches(caught.value, PATH)["code"] == "connection"


def test_a_lasting_provider_refusal_is_a_502_the_sdk_does_not_retry(
    live_server, raw_token, scripted, adapter
):
    scripted.script = []
    scripted.fail_after = ProviderError("The credential was refused.", permanent=True, hint="Check the key.")
    retrying = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw_token, max_retries=2)

    with pytest.raises(openai.InternalServerError) as caught:
        retrying.chat.completions.create(model=adapter.name, messages=HELLO)

    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert assert_error_matches(caught.value, PATH)["message"] == "The credential was refused. Check the key."
    assert len(scripted.calls) == 1  # x-should-retry: false kept the SDK from asking twice more


def test_past_the_project_s_rate_the_sdk_gets_429_with_retry_after(sdk, settings, scripted, adapter, cast):
    settings.INFERENCE_RATE_LIMIT = "2/m"
    for _ in range(2):
        sdk.chat.completions.create(model=adapter.name, messages=HELLO)

    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model=adapter.name, messages=HELLO, stream=True)

    error = assert_error_matches(caught.value, PATH)
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert "Rate limit reached for project bank-reviews: 2 chat answers per period (2/m" in error["message"]
    retry_after = int(caught.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert f"Try again in {retry_after} s." in error["message"]
    assert ChatAnswer.objects.count() == 2
    # The limit is the project's: a bad request does not count against it, and is refused as bad first.
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=adapter.name, messages=HELLO, temperature=9)
