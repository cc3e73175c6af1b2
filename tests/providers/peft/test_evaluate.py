"""A local evaluation end to end: a demo:tiny run is trained, served by the embedded model server, and
evaluated beside its base on the same items through the evaluations app."""

from __future__ import annotations

import pytest

from finetune_portal.evaluations.models import EvaluationStatus, OutputStatus
from finetune_portal.evaluations.services import evaluation_run_in_process, evaluation_start
from finetune_portal.inference.catalog import served_model_of
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.providers.peft.serving import client
from finetune_portal.providers.peft.serving.engine import Engine
from tests.providers.peft.helpers import run_queued_job
from tests.providers.peft.serving_support import running_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def model_server(settings, model_cache):
    client._loaded.clear()
    with running_server(Engine(cache_dir=model_cache)) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url
        yield server
    client._loaded.clear()


def test_a_trained_run_and_its_base_are_evaluated_on_the_validation_version(
    cast, chat_versions, model_server
):
    job, outcome = run_queued_job(cast, versions=chat_versions)
    assert outcome == "succeeded", job.error_message
    tuned = served_model_of(job.fine_tuned_model)
    _, validation = chat_versions

    evaluation = evaluation_start(
        project=cast.project,
        user=cast.member,
        version=validation,
        model_names=[tuned.name, "demo:tiny"],
        metric="rouge_l",
        max_tokens=8,
        enqueue=False,
    )
    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)

    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert evaluation.item_count == 10
    assert evaluation.cost_estimate_usd is None, "own GPUs are not billed per answer"
    rows = evaluation.outputs.all()
    assert rows.count() == 20
    assert all(r.status == OutputStatus.DONE and r.answer_id for r in rows)
    assert ChatAnswer.objects.filter(source="evaluation").count() == 20
    summary = evaluation.results["models"]
    assert set(summary) == {tuned.name, "demo:tiny"}
    assert all(0.0 <= summary[n]["value"] <= 1.0 for n in summary)
    verdict = evaluation.results["verdict"]
    assert verdict["n"] == 10
    assert verdict["test"] == "paired t-test"
