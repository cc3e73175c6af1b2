"""Leaving OpenAI, end to end on the stand-in: a fine-tuned model imported from the OpenAI account (so
the portal holds none of its training data) has its answers captured as a dataset version, is retrained
on demo:tiny from those answers (a real training run, launched from the exit page's form), one click on
the exit page evaluates both on held-out items (the OpenAI model answered by the stand-in through the
SDK, the local one by the embedded model server), and the exit page shows all of it."""

from __future__ import annotations

import openai
import pytest

from finetune_portal.captures.models import Capture, CaptureStatus
from finetune_portal.captures.running import capture_step
from finetune_portal.datasets.tasks import dataset_version_validate_task
from finetune_portal.evaluations.models import Evaluation, EvaluationStatus, OutputStatus
from finetune_portal.evaluations.services import evaluation_run_in_process
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai.importer import jobs_import
from finetune_portal.providers.peft.serving import client as engine_client
from finetune_portal.providers.peft.serving.engine import Engine
from finetune_portal.providers.peft.tasks import job_train_task
from tests.celery_support import memory_broker_if_filesystem
from tests.providers.openai.conftest import chat_lines, openai_credential, standin, wind_down_day  # noqa: F401
from tests.providers.peft.helpers import FAST_SFT, queued_local_job
from tests.providers.peft.serving_support import running_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROVIDERS = [
    "finetune_portal.providers.peft.provider.PeftProvider",
    "finetune_portal.providers.openai.provider.OpenAIProvider",
]


@pytest.fixture
def model_server(settings, model_cache):
    engine_client._loaded.clear()
    with running_server(Engine(cache_dir=model_cache)) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url
        yield server
    engine_client._loaded.clear()


@pytest.fixture
def quiet_broker():
    """The parity click hands its first batch to the broker; this test runs the batches itself."""
    from finetune_portal.celery import app

    with memory_broker_if_filesystem(app):
        yield


def test_an_imported_openai_model_is_retrained_on_demo_tiny_and_the_exit_page_shows_parity(
    client,
    cast,
    settings,
    standin,  # noqa: F811
    openai_credential,  # noqa: F811
    wind_down_day,  # noqa: F811
    chat_versions,
    model_server,
    quiet_broker,
):
    settings.FINETUNE_PROVIDERS = PROVIDERS
    sdk = openai.OpenAI(api_key="sk-test", base_url=standin.base_url)
    upload = sdk.files.create(file=("train.jsonl", chat_lines()), purpose="fine-tune")
    sdk.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=upload.id, suffix="colours")
    standin.state.run_to_completion()
    standin.state.advance(3600)
    [imported] = jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)
    imported.refresh_from_db()
    assert imported.training_version_id is None  # OpenAI does not give the uploaded file back
    train, held_out = chat_versions
    client.force_login(cast.member)

    # Captured while it still answers: its answers to the training prompts become a dataset version.
    response = client.post(
        "/p/bank-reviews/captures/new/",
        {
            "model": imported.fine_tuned_model.pk,
            "source": str(train.pk),
            "mode": "direct",
            "max_tokens": 16,
            "token": "t" * 24,
            "action": "start",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    capture = Capture.objects.get()
    for _ in range(100):
        if capture_step(capture_id=capture.pk) is None:
            break
    capture.refresh_from_db()
    assert capture.status == CaptureStatus.SUCCEEDED, capture.error
    captured = capture.result_version
    dataset_version_validate_task.apply(args=(captured.pk,))
    captured.refresh_from_db()
    assert (captured.status, captured.example_count) == ("valid", 50)
    page = client.get("/p/bank-reviews/exit/").content.decode()
    assert 'data-testid="captured-version"' in page
    assert 'data-testid="retrain"' not in page  # nothing of its own training data to retrain on
    assert f"/p/bank-reviews/exit/retrain/{imported.pk}/?version={captured.pk}" in page

    # Retrained on own GPUs from the captured answers, through the exit page's prefilled form.
    response = client.get(f"/p/bank-reviews/exit/retrain/{imported.pk}/?version={captured.pk}")
    form = response.context["form"]
    assert form["training_version"].value() == captured.pk
    assert form["replaces"].value() == imported.pk
    assert "distilled from its captured answers" in response.content.decode()
    local = queued_local_job(
        cast,
        method="sft",
        base_model="demo:tiny",
        training_version=captured,
        validation_version=held_out,
        hyperparameters=FAST_SFT,
        replaces=imported,
    )
    assert job_train_task.apply(args=(local.pk,)).get() == "succeeded"
    local.refresh_from_db()
    assert local.status == JobStatus.SUCCEEDED

    page = client.get("/p/bank-reviews/exit/").content.decode()
    assert 'data-testid="replacement"' in page
    assert 'data-testid="prove-parity"' in page
    asked_before = len(standin.state.requests)
    response = client.post(
        f"/p/bank-reviews/exit/parity/{imported.pk}/", {"version": held_out.pk, "metric": "auto"}
    )
    evaluation = Evaluation.objects.get()
    assert response["Location"] == f"/p/bank-reviews/evaluations/{evaluation.pk}/"

    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)

    assert evaluation.status == EvaluationStatus.SUCCEEDED
    rows = evaluation.outputs.all()
    assert rows.count() == 20
    assert all(row.status == OutputStatus.DONE for row in rows), [row.error for row in rows]
    parity_requests = standin.state.requests[asked_before:]
    asked = [r["body"]["model"] for r in parity_requests if r["path"] == "/v1/chat/completions"]
    assert asked == [imported.fine_tuned_model.provider_model_id] * 10
    verdict = evaluation.results["verdict"]
    assert verdict["n"] == 10
    page = client.get("/p/bank-reviews/exit/").content.decode()
    said = page.split('data-testid="parity">', 1)[1].split("</span>", 1)[0]
    assert said.startswith("The local model ")
    assert said.endswith(f"n = 10 ({evaluation.metric_info.label}).")
    assert f"{abs(verdict['difference']):.1f} points" in said
