"""The stand-in's Batch API and the provider's use of it keep to OpenAI's published API description:
every exchange of a batch sent, listed, checked, read back and cancelled, request and response."""

from __future__ import annotations

import pytest

from finetune_portal.providers.base import BatchRequest
from finetune_portal.providers.chat import ChatSettings, ServedModel
from finetune_portal.providers.registry import get_provider
from tests.contracts.openapi_contract import request_problems, response_problems
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]

MODEL = ServedModel(
    name="gpt-4o-mini-2024-07-18",
    label="gpt-4o-mini",
    provider="openai",
    kind="base",
    provider_model="gpt-4o-mini-2024-07-18",
)


def test_every_batch_exchange_matches_openais_openapi_description(cast, standin):  # noqa: F811
    provider = get_provider("openai")
    standin.state.faults.refuse_containing.append("forbidden")
    requests = [
        BatchRequest(str(i), [{"role": "user", "content": text}], ChatSettings(temperature=0, max_tokens=9))
        for i, text in enumerate(["hello", "forbidden"])
    ]
    done = provider.batch_submit(project=cast.project, model=MODEL, requests=requests, tag="a")
    cancelled = provider.batch_submit(project=cast.project, model=MODEL, requests=requests, tag="b")
    provider.batch_cancel(project=cast.project, model=MODEL, batch_id=cancelled)
    provider.batch_check(project=cast.project, model=MODEL, batch_id=done)
    standin.state.advance(61)
    provider.batch_check(project=cast.project, model=MODEL, batch_id=done)

    exchanges = standin.state.requests
    paths = {(r["method"], r["path"].rsplit("/", 1)[-1] if "cancel" in r["path"] else r["path"].split("/")[2])
             for r in exchanges}  # fmt: skip
    assert {("POST", "files"), ("POST", "batches"), ("GET", "batches"), ("POST", "cancel")} <= paths
    problems = []
    for exchange in exchanges:
        for problem in request_problems(exchange) + response_problems(exchange):
            problems.append(f"{exchange['method']} {exchange['path']} -> {exchange['status']}: {problem}")
    assert not problems, "\n".join(problems)
