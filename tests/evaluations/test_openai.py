"""An OpenAI evaluation through the real SDK against the stand-in: the estimate before it starts, the
cap refused up front, and what each answer cost recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.models import EvaluationStatus
from finetune_portal.evaluations.services import evaluation_run_in_process, evaluation_start
from finetune_portal.inference.models import ChatAnswer
from tests.providers.openai.conftest import openai_credential, standin, wind_down_day  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("wind_down_day", "openai_credential")]

MODEL = "gpt-4o-mini-2024-07-18"


def test_an_openai_evaluation_is_estimated_runs_and_records_its_cost(cast, reviews, standin):  # noqa: F811
    evaluation = evaluation_start(
        project=cast.project,
        user=cast.member,
        version=reviews,
        model_names=[MODEL],
        metric="accuracy",
        max_tokens=5,
        cost_cap_usd=Decimal("1.00"),
        enqueue=False,
    )
    # About 30 prompts of ~25 tokens and 150 tokens out at gpt-4o-mini's prices: a fraction of a cent.
    assert Decimal("0") < evaluation.cost_estimate_usd < Decimal("0.01")

    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)

    assert evaluation.status == EvaluationStatus.SUCCEEDED
    answers = ChatAnswer.objects.filter(source="evaluation", model_name=MODEL)
    assert answers.count() == 30
    assert all(a.cost_usd is not None and a.error == "" for a in answers)
    sent = [r for r in standin.state.requests if r["path"] == "/v1/chat/completions"]
    assert len(sent) == 30
    assert sent[0]["body"]["max_completion_tokens"] == 5
    assert sent[0]["body"]["temperature"] == 0
    assert sent[0]["body"]["messages"][-1]["content"].startswith("Review 0:")


def test_an_estimate_over_the_cap_is_refused_before_anything_is_asked(cast, reviews, standin):  # noqa: F811
    with pytest.raises(EvaluationInputError) as refused:
        evaluation_start(
            project=cast.project,
            user=cast.member,
            version=reviews,
            model_names=[MODEL],
            metric="accuracy",
            max_tokens=4000,
            cost_cap_usd=Decimal("0.001"),
            enqueue=False,
        )
    assert refused.value.field == "cost_cap_usd"
    assert "passes the cap of $0.001" in refused.value.message
    assert not cast.project.evaluations.exists()
    assert not [r for r in standin.state.requests if r["path"] == "/v1/chat/completions"]
