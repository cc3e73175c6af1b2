from __future__ import annotations

import pytest
from django.urls import reverse

from finetune_portal.jobs.models import FineTuningJob
from tests.celery_support import DEAD_BROKER, broker_for_test
from tests.factories import PASSWORD
from tests.providers.openai.conftest import make_valid_version

pytestmark = pytest.mark.django_db


def test_the_hints_fragment_shows_models_for_the_method_and_the_estimate(client, cast):
    version = make_valid_version(cast.project)
    client.login(username=cast.member.username, password=PASSWORD)
    url = reverse("openai_provider:launch_hints", args=[cast.project.slug])
    response = client.get(
        url,
        {
            "method": "dpo",
            "base_model": "gpt-4.1-mini-2025-04-14",
            "training_version": version.pk,
            "n_epochs": 2,
        },
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'value="gpt-4.1-mini-2025-04-14"' in body
    assert "o4-mini" not in body  # RFT-only model not offered for DPO
    tokens = version.validation_report["stats"]["total_tokens"]
    assert f"{tokens * 2:,}" in body


def test_the_hints_bring_the_data_lists_for_the_method_and_a_cost_below_a_cent(client, cast):
    chat = make_valid_version(cast.project, kind="chat", examples=10)
    dpo = make_valid_version(cast.project, kind="dpo")
    client.login(username=cast.member.username, password=PASSWORD)
    url = reverse("openai_provider:launch_hints", args=[cast.project.slug])

    body = client.get(
        url,
        {
            "method": "sft",
            "base_model": "gpt-4.1-nano-2025-04-14",
            "training_version": chat.pk,
            "n_epochs": 1,
        },
        headers={"HX-Request": "true"},
    ).content.decode()

    training = body.split('id="id_training_version"', 1)[1].split("</select>", 1)[0]
    assert 'hx-swap-oob="true"' in body.split('id="id_training_version"', 1)[0].rsplit("<select", 1)[1]
    assert f'value="{chat.pk}" selected' in training
    assert f'value="{dpo.pk}"' not in training
    cost = body.split('data-testid="estimated-cost">', 1)[1].split("<", 1)[0]
    assert cost != "$0.00"
    assert cost.startswith("$0.00")  # a fraction of a cent, shown with its digits
    assert any(digit in cost.removeprefix("$0.00") for digit in "123456789")


def test_a_form_with_errors_starts_with_a_summary_linking_each_field(client, cast):
    make_valid_version(cast.project)
    client.login(username=cast.member.username, password=PASSWORD)
    response = client.post(
        reverse("jobs:new", args=[cast.project.slug]),
        {"provider": "openai", "method": "rft", "base_model": "", "n_epochs": "0"},
    )
    body = response.content.decode()
    summary = body.split('data-testid="error-summary"', 1)[1].split("</article>", 1)[0]
    assert body.index('data-testid="error-summary"') < body.index('id="id_method"')
    assert '<a href="#id_base_model">Base model</a>' in summary
    assert '<a href="#id_training_version">Training data</a>' in summary
    assert '<a href="#id_n_epochs">Epochs</a>' in summary
    assert "things to fix before launching" in summary
    assert FineTuningJob.objects.count() == 0


def test_the_launch_page_renders_the_openai_form(client, cast):
    make_valid_version(cast.project)
    client.login(username=cast.member.username, password=PASSWORD)
    body = client.get(reverse("jobs:new", args=[cast.project.slug]) + "?provider=openai").content.decode()
    assert 'id="openai-hints"' in body
    assert "RFT grader (JSON)" in body


def test_import_runs_in_the_background_and_brings_jobs_in(
    client, cast, standin, openai_credential, django_capture_on_commit_callbacks
):
    import openai

    from finetune_portal.providers.openai.tasks import jobs_import_task
    from tests.providers.openai.conftest import chat_lines

    sdk = openai.OpenAI(api_key="k", base_url=standin.base_url)
    upload = sdk.files.create(file=("a.jsonl", chat_lines()), purpose="fine-tune")
    sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id)
    standin.state.run_to_completion()
    client.login(username=cast.admin.username, password=PASSWORD)

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(reverse("openai_provider:import", args=[cast.project.slug]), follow=True)

    assert "Importing the jobs of Stand-in server (not OpenAI)" in response.content.decode()
    assert len(enqueued) == 1
    assert FineTuningJob.objects.filter(imported=True).count() == 0  # nothing done inside the request
    assert jobs_import_task(openai_credential.pk, cast.project.pk, cast.admin.pk) == 1  # what the worker runs
    assert FineTuningJob.objects.filter(project=cast.project, imported=True, status="succeeded").count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_import_the_task_queue_cannot_take_asks_to_try_again(client, cast, openai_credential):
    from finetune_portal.celery import app

    client.login(username=cast.admin.username, password=PASSWORD)
    with broker_for_test(app, DEAD_BROKER):
        response = client.post(reverse("openai_provider:import", args=[cast.project.slug]), follow=True)

    assert response.status_code == 200
    assert "The import could not start: the task queue did not answer" in response.content.decode()


def test_a_failed_jobs_page_shows_openais_words_and_the_hint(client, cast, standin, openai_credential):
    from finetune_portal.jobs.states import JobStatus
    from finetune_portal.providers.openai.submit import job_submit
    from finetune_portal.providers.openai.sync import job_poll
    from tests.factories import make_job
    from tests.providers.openai.conftest import chat_lines

    version = make_valid_version(cast.project, content=chat_lines(3), examples=3)
    job = make_job(cast.project, created_by=cast.member, status=JobStatus.QUEUED, training_version=version)
    job_submit(job_id=job.pk, worker_id="task-1")
    standin.state.run_to_completion()
    job_poll(job_id=job.pk)
    client.login(username=cast.member.username, password=PASSWORD)

    body = client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()

    assert "Training file has 3 example(s), but must have at least 10 examples" in body
    assert "validation report" in body
