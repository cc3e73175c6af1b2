"""Files and fine-tuning jobs through /v1 with the real openai SDK against the live test server; every
answer is checked against OpenAI's OpenAPI description."""

from __future__ import annotations

import openai
import pytest

from finetune_portal.api.services import api_token_create
from finetune_portal.celery import app
from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from tests.api.contract import assert_error_matches, assert_response_matches
from tests.celery_support import memory_broker_if_filesystem
from tests.factories import make_dataset, make_job, make_version
from tests.providers.peft.helpers import chat_jsonl

pytestmark = pytest.mark.django_db(transaction=True)
PEFT_PROVIDERS = [
    "finetune_portal.providers.peft.provider.PeftProvider",
    "finetune_portal.providers.openai.provider.OpenAIProvider",
]


@pytest.fixture(autouse=True)
def _local_training(settings):
    settings.FINETUNE_PROVIDERS = PEFT_PROVIDERS
    with memory_broker_if_filesystem(app):
        yield


def _checked(raw, method: str, path: str):
    body = raw.http_response.json()
    assert_response_matches(method, path, raw.http_response.status_code, body)
    return raw.parse()


def _upload(sdk, content: bytes, name: str = "train.jsonl"):
    raw = sdk.files.with_raw_response.create(file=(name, content), purpose="fine-tune")
    return _checked(raw, "POST", "/v1/files")


def test_an_upload_is_a_validated_dataset_version_of_the_tokens_project(sdk, cast):
    uploaded = _upload(sdk, chat_jsonl(range(12)))
    assert uploaded.status == "processed"
    assert uploaded.filename == "train.jsonl"
    version = DatasetVersion.objects.get(api_files__public_id=uploaded.id)
    assert version.dataset.project == cast.project
    assert version.dataset.name == "train.jsonl"
    assert version.example_count == 12
    assert sdk.files.content(uploaded.id).content == chat_jsonl(range(12))
    listed = _checked(sdk.files.with_raw_response.list(), "GET", "/v1/files")
    assert [f.id for f in listed.data] == [uploaded.id]
    assert _checked(sdk.files.with_raw_response.retrieve(uploaded.id), "GET", f"/v1/files/{uploaded.id}").id
    deleted = _checked(sdk.files.with_raw_response.delete(uploaded.id), "DELETE", f"/v1/files/{uploaded.id}")
    assert deleted.deleted is True
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.files.retrieve(uploaded.id)
    assert_error_matches(missing.value, f"/v1/files/{uploaded.id}", "GET")


def test_an_invalid_file_is_an_error_with_its_first_line_errors(sdk):
    bad = chat_jsonl(range(11)) + b'{"messages": [{"role": "user", "content": "no answer"}]}\nnot json\n'
    uploaded = _upload(sdk, bad)
    assert uploaded.status == "error"
    assert "line 12" in uploaded.status_details
    assert "line 13" in uploaded.status_details


def test_a_purpose_other_than_fine_tune_is_refused(sdk):
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.files.create(file=("batch.jsonl", b"{}\n"), purpose="batch")
    error = assert_error_matches(refused.value, "/v1/files")
    assert error["param"] == "purpose"
    assert "fine-tune" in error["message"]
    assert not DatasetVersion.objects.exists()


def test_a_job_is_the_portals_local_job_built_by_its_launch_form(sdk, cast):
    train = _upload(sdk, chat_jsonl(range(20)))
    valid = _upload(sdk, chat_jsonl(range(20, 25)), name="valid.jsonl")
    raw = sdk.fine_tuning.jobs.with_raw_response.create(
        model="demo:tiny",
        training_file=train.id,
        validation_file=valid.id,
        suffix="colours",
        seed=7,
        metadata={"team": "cards"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 8}}},
        extra_body={"integrations": []},
    )
    job = _checked(raw, "POST", "/v1/fine_tuning/jobs")
    assert job.status == "queued"
    assert job.model == "demo:tiny"
    assert job.seed == 7
    assert job.hyperparameters.n_epochs == 2
    assert job.hyperparameters.batch_size == 8
    assert job.hyperparameters.learning_rate_multiplier == 1.0
    portal = FineTuningJob.objects.get(api_job__public_id=job.id)
    assert portal.provider == "local_peft"
    assert portal.status == JobStatus.QUEUED
    assert portal.suffix == "colours"
    assert portal.created_by == cast.member
    # The launch form's defaults for the tiny model, with OpenAI's batch as one optimizer step.
    assert portal.hyperparameters["learning_rate"] == 5e-3
    assert portal.hyperparameters["batch_size"] == 8
    assert portal.hyperparameters["gradient_accumulation"] == 1
    assert portal.hyperparameters["epochs"] == 2

    doubled = sdk.fine_tuning.jobs.create(
        model="demo:tiny",
        training_file=train.id,
        hyperparameters={"learning_rate_multiplier": 2},
    )
    assert FineTuningJob.objects.get(api_job__public_id=doubled.id).hyperparameters["learning_rate"] == 1e-2

    page = _checked(sdk.fine_tuning.jobs.with_raw_response.list(limit=1), "GET", "/v1/fine_tuning/jobs")
    assert [j.id for j in page.data] == [doubled.id]
    assert page.has_more
    rest = sdk.fine_tuning.jobs.list(limit=1, after=doubled.id)
    assert [j.id for j in rest.data] == [job.id]
    assert not rest.has_more
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"team": "cards"})] == [job.id]

    events = _checked(
        sdk.fine_tuning.jobs.with_raw_response.list_events(job.id),
        "GET",
        f"/v1/fine_tuning/jobs/{job.id}/events",
    )
    assert events.data
    assert not events.has_more
    checkpoints = sdk.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id)
    _checked(checkpoints, "GET", f"/v1/fine_tuning/jobs/{job.id}/checkpoints")

    with pytest.raises(openai.BadRequestError) as paused:
        sdk.fine_tuning.jobs.pause(job.id)
    assert (
        "cannot be paused"
        in assert_error_matches(paused.value, f"/v1/fine_tuning/jobs/{job.id}/pause")["message"]
    )
    cancelled = _checked(
        sdk.fine_tuning.jobs.with_raw_response.cancel(job.id), "POST", f"/v1/fine_tuning/jobs/{job.id}/cancel"
    )
    assert cancelled.status == "cancelled"
    assert FineTuningJob.objects.get(pk=portal.pk).status == JobStatus.CANCELLED


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"model": "gpt-4o-mini-2024-07-18"}, "model"),
        ({"model": "not a model!"}, "model"),
        ({"training_file": "file-doesnotexist"}, "training_file"),
        ({"integrations": [{"type": "wandb", "wandb": {"project": "x"}}]}, "integrations"),
        ({"method": {"type": "reinforcement"}}, "method.type"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"suffix": "a:b"}, "suffix"),
    ],
)
def test_a_request_the_portal_cannot_honour_is_a_400_naming_the_parameter(sdk, changes, param):
    train = _upload(sdk, chat_jsonl(range(12)))
    body = {"model": "demo:tiny", "training_file": train.id, **changes}
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.post("/fine_tuning/jobs", body=body, cast_to=object)
    assert assert_error_matches(refused.value, "/v1/fine_tuning/jobs")["param"] == param
    assert not FineTuningJob.objects.exists()


def test_another_projects_job_and_file_answer_404(sdk, cast, live_server):
    _, other_raw = api_token_create(
        user=cast.outsider, project=cast.other_project, name="x", actor=cast.outsider
    )
    other = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=other_raw, max_retries=0)
    theirs = other.files.create(file=("train.jsonl", chat_jsonl(range(12))), purpose="fine-tune")
    their_job = other.fine_tuning.jobs.create(model="demo:tiny", training_file=theirs.id)
    with pytest.raises(openai.NotFoundError) as hidden:
        sdk.fine_tuning.jobs.retrieve(their_job.id)
    assert_error_matches(hidden.value, f"/v1/fine_tuning/jobs/{their_job.id}", "GET")
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(theirs.id)
    with pytest.raises(openai.BadRequestError):
        sdk.fine_tuning.jobs.create(model="demo:tiny", training_file=theirs.id)


def test_jobs_launched_in_the_browser_are_listed_and_answer_like_the_apis_own(sdk, cast, client):
    api_made = sdk.fine_tuning.jobs.create(
        model="demo:tiny", training_file=_upload(sdk, chat_jsonl(range(20))).id
    )
    version = make_version(
        make_dataset(cast.project, kind="chat", created_by=cast.member),
        content=chat_jsonl(range(20)),
        example_count=20,
    )
    client.force_login(cast.member)
    form = client.get("/p/bank-reviews/jobs/new/?provider=local_peft").context["form"]
    values = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in values.items() if value is not None and value is not False}
    data.update(
        provider="local_peft", training_version=version.pk, epochs=3, batch_size=8, launch_token="b" * 24
    )
    launched = client.post("/p/bank-reviews/jobs/new/", data)
    assert launched.status_code == 302, launched.context and launched.context["form"].errors
    browser_job = FineTuningJob.objects.get(provider="local_peft", api_job__isnull=True)
    make_job(cast.project, status=JobStatus.SUCCEEDED)  # an OpenAI job: not the portal's to train or list

    first = _checked(sdk.fine_tuning.jobs.with_raw_response.list(limit=1), "GET", "/v1/fine_tuning/jobs")
    assert first.has_more
    [listed] = first.data
    rest = sdk.fine_tuning.jobs.list(limit=1, after=listed.id)
    assert [j.id for j in rest.data] == [api_made.id]
    assert not rest.has_more
    assert FineTuningJob.objects.get(api_job__public_id=listed.id) == browser_job
    assert (listed.model, listed.status, listed.method.type) == ("demo:tiny", "queued", "supervised")
    assert listed.hyperparameters.n_epochs == 3
    assert listed.hyperparameters.batch_size == 8 * browser_job.hyperparameters["gradient_accumulation"]
    assert listed.hyperparameters.learning_rate_multiplier == pytest.approx(1.0)
    assert [j.id for j in sdk.fine_tuning.jobs.list()] == [listed.id, api_made.id], "named once"

    path = f"/v1/fine_tuning/jobs/{listed.id}"
    assert _checked(sdk.fine_tuning.jobs.with_raw_response.retrieve(listed.id), "GET", path).id == listed.id
    events = _checked(sdk.fine_tuning.jobs.with_raw_response.list_events(listed.id), "GET", f"{path}/events")
    assert any("queued" in event.message.lower() for event in events.data)
    _checked(sdk.fine_tuning.jobs.checkpoints.with_raw_response.list(listed.id), "GET", f"{path}/checkpoints")
    cancelled = _checked(sdk.fine_tuning.jobs.with_raw_response.cancel(listed.id), "POST", f"{path}/cancel")
    assert cancelled.status == "cancelled"
    assert FineTuningJob.objects.get(pk=browser_job.pk).status == JobStatus.CANCELLED
