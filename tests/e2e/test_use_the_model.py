"""Using a model trained here, end to end and for real: a demo:tiny job trained by the local provider's
task, answered by the embedded model server. From the job page's "Try it" the user chats with the run
next to its base as the answers stream in, saves a probe and runs it on two more models (a checkpoint and
the base) through a Celery worker, and a script with the openai SDK streams an answer from the same
adapter through /v1 with a personal token."""

from __future__ import annotations

import re

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from finetune_portal.api.services import api_token_create
from finetune_portal.celery import app as celery_app
from finetune_portal.inference.catalog import portal_model_name
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_create
from finetune_portal.jobs.states import JobStatus
from finetune_portal.playground.models import Probe
from finetune_portal.providers.peft.serving import client as serving_client
from finetune_portal.providers.peft.serving.engine import Engine
from tests.factories import make_dataset, make_version
from tests.providers.peft.helpers import FAST_SFT, chat_jsonl
from tests.providers.peft.serving_support import running_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = "demo:tiny"
QUESTION = "What colour is item 3?"


@pytest.fixture
def trained_job(cast, settings, tmp_path):
    """A local run of the tiny demo model, trained by the provider's task (checkpoints at 15 and 30)."""
    from finetune_portal.providers.peft.tasks import job_train_task

    settings.PEFT_MODEL_CACHE = tmp_path / "models"
    settings.PEFT_WORK_DIR = tmp_path / "runs"
    dataset = make_dataset(cast.project, name="colours", kind="chat")
    train = make_version(dataset, content=chat_jsonl(range(50)), example_count=50)
    job = job_create(
        project=cast.project,
        created_by=cast.member,
        name="tiny colours",
        provider="local_peft",
        base_model=BASE,
        training_version=train,
        hyperparameters=FAST_SFT,
    )
    FineTuningJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert job_train_task.apply(args=(job.pk,)).get() == "succeeded"
    job.refresh_from_db()
    return job


@pytest.fixture
def model_server(settings, trained_job):
    serving_client._loaded.clear()
    with running_server(Engine(cache_dir=settings.PEFT_MODEL_CACHE)) as server:
        settings.VLLM_BASE_URL = ""
        settings.LOCAL_INFERENCE_URL = server.base_url
        yield server
    serving_client._loaded.clear()


def test_a_member_tries_a_trained_run_beside_its_base_probes_it_and_calls_it_with_the_sdk(
    page, cast, trained_job, model_server, live_server, log_in, screenshot, broker
):
    slug = cast.project.slug
    tuned = portal_model_name(trained_job)
    checkpoint = f"{tuned}:ckpt-step-15"
    page.set_viewport_size({"width": 1366, "height": 900})

    log_in(cast.member)
    page.goto(f"/p/{slug}/jobs/{trained_job.pk}/")
    page.get_by_test_id("try-it").click()
    expect(page.locator("#playground[data-ready]")).to_be_attached()  # its buttons answer
    expect(page.locator(".pg-model").first).to_have_value(tuned)
    page.get_by_role("button", name="Add a model to compare").click()
    page.locator(".pg-model").nth(1).select_option(BASE)
    page.get_by_text("Settings", exact=True).click()
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Maximum tokens").fill("8")
    page.get_by_label("Message").fill(QUESTION)
    page.get_by_role("button", name="Send").click()

    answers = page.locator(".pg-answer")
    expect(answers).to_have_count(2)
    for column in (0, 1):
        answer = page.locator(f'.pg-answer[data-col="{column}"]')
        expect(answer.locator(".pg-figures")).to_contain_text("tokens/s", timeout=60_000)  # it ended
    # The trained run says something; the untrained tiny base may well answer only blank lines.
    expect(page.locator('.pg-answer[data-col="0"] .pg-text')).to_contain_text(re.compile(r"\w"))
    screenshot("use-the-model-side-by-side")
    by_model = {a.model_name: a for a in ChatAnswer.objects.filter(source="playground")}
    assert set(by_model) == {tuned, BASE}
    assert all(a.error == "" and 0 < a.completion_tokens <= 8 for a in by_model.values())
    assert by_model[tuned].fine_tuned_model_id == trained_job.fine_tuned_model.pk
    # Streamed: the first piece reached the page before the answer was whole.
    assert all(a.ttft_ms is not None and a.ttft_ms < a.latency_ms for a in by_model.values())

    page.get_by_text("Save as a probe, copy the conversation").click()
    page.get_by_label("Probe name").fill("Item colour")
    page.get_by_role("button", name="Save as probe").click()
    expect(page.locator("#pg-save-result")).to_have_text("Saved the probe 'Item colour'.")
    assert Probe.objects.get().messages == [{"role": "user", "content": QUESTION}]

    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        page.goto(f"/p/{slug}/playground/probes/")
        for name in (checkpoint, BASE):
            page.get_by_label("Model to run the probes on").select_option(name)
            page.get_by_role("button", name="Run all probes (1)").click()
            expect(page.locator(".flash-success")).to_contain_text("answers appear below")
        grid = page.locator("#probe-grid")
        expect(grid.locator("thead th")).to_have_count(3)
        expect(grid.locator("td.probe-done")).to_have_count(2, timeout=60_000)
    probed = ChatAnswer.objects.filter(source="probe")
    assert sorted(probed.values_list("model_name", flat=True)) == sorted([checkpoint, BASE])
    assert all(a.error == "" and a.output for a in probed)
    screenshot("use-the-model-probe-grid")

    # An application: the openai SDK pointed at the portal, a personal token, the same adapter, streamed.
    import openai

    _, raw = api_token_create(user=cast.member, project=cast.project, name="script", actor=cast.member)
    sdk = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw, max_retries=0, timeout=60)
    chunks = list(
        sdk.chat.completions.create(
            model=tuned,
            messages=[{"role": "user", "content": QUESTION}],
            max_completion_tokens=8,
            temperature=0,
            stream=True,
        )
    )
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks]
    from_api = ChatAnswer.objects.get(source="api")
    assert (from_api.model_name, from_api.fine_tuned_model_id) == (tuned, trained_job.fine_tuned_model.pk)
    assert "".join(pieces) == from_api.output
    # The same adapter, the same greedy settings: the same words as in the playground.
    assert from_api.output == by_model[tuned].output

    # On a phone the two answers stack, each with its figures, and nothing is wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/p/{slug}/playground/?model={tuned}&model={BASE}")
    expect(page.locator("#playground[data-ready]")).to_be_attached()
    page.get_by_text("Settings", exact=True).click()
    page.get_by_label("Maximum tokens").fill("8")
    page.get_by_label("Message").fill(QUESTION)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".pg-answer .pg-figures")).to_have_count(2, timeout=60_000)
    screenshot("use-the-model-side-by-side-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
