"""The stand-in behaves like OpenAI where our provider depends on it: paging, filters, faults, lifecycle."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import openai
import pytest

from devtools.openai_standin import StandinServer
from devtools.openai_standin.state import DEPLOYING_SECONDS
from tests.providers.openai.conftest import chat_lines


@pytest.fixture
def server():
    running = StandinServer().start_in_thread()
    yield running
    running.stop()


@pytest.fixture
def client(server):
    return openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=2)


def _upload(client):
    return client.files.create(file=("train.jsonl", chat_lines()), purpose="fine-tune")


def test_job_lists_page_newest_first_with_a_correct_has_more(client):
    upload = _upload(client)
    created = [
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id).id for _ in range(25)
    ]

    first = client.fine_tuning.jobs.list(limit=10)
    assert [job.id for job in first.data] == created[::-1][:10]
    assert first.has_more is True
    assert [job.id for job in client.fine_tuning.jobs.list(limit=10)] == created[::-1]  # auto-paging
    last = client.fine_tuning.jobs.list(limit=10, after=created[4])
    assert [job.id for job in last.data] == created[:4][::-1]
    assert last.has_more is False


def test_jobs_are_found_by_their_metadata(client):
    upload = _upload(client)
    mine = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id, metadata={"k": "1"})
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id, metadata={"k": "2"})
    assert [job.id for job in client.fine_tuning.jobs.list(metadata={"k": "1"})] == [mine.id]


def test_a_job_moves_through_its_lifecycle_only_when_the_clock_moves(server, client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client).id)
    time.sleep(0.2)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    server.state.advance(5)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "queued"
    server.state.advance(5)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    server.state.run_to_completion()
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model in {model.id for model in client.models.list()}
    server.state.advance(DEPLOYING_SECONDS)
    reply = client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "hi"}]
    )
    assert "hi" in reply.choices[0].message.content
    metrics = [e for e in client.fine_tuning.jobs.list_events(job.id, limit=100).data if e.type == "metrics"]
    assert {"step", "total_steps", "train_loss", "train_mean_token_accuracy"} <= set(metrics[0].data)


def test_a_rate_limit_names_its_wait_and_the_sdk_honours_it(server):
    patient = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=1)
    server.state.faults.statuses.append(("GET", "/models", 429, {"retry-after": "1"}))
    started = time.monotonic()
    patient.models.list()
    assert time.monotonic() - started >= 0.9
    assert [r["status"] for r in server.state.requests] == [429, 200]


def test_a_slow_answer_times_out_after_the_job_was_created(server, client):
    server.state.faults.delay_after_handling.append(("POST", "/fine_tuning/jobs", 3))
    with pytest.raises(openai.APITimeoutError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client).id)
    assert len(server.state.jobs) == 1


def test_cancelling_a_finished_job_is_refused(server, client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client).id)
    server.state.run_to_completion()
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)


def test_bad_input_is_refused_like_openai_does(client):
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("train.txt", b"x"), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{client.base_url}models")  # noqa: S310 - loopback; no Authorization header
    assert refused.value.code == 401


def _succeeded_job(server, client):
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client).id, suffix="bot")
    server.state.run_to_completion()
    return client.fine_tuning.jobs.retrieve(job.id)


def test_a_new_fine_tuned_model_answers_404_until_it_is_deployed(server, client):
    job = _succeeded_job(server, client)
    checkpoint = client.fine_tuning.jobs.checkpoints.list(job.id).data[-1].fine_tuned_model_checkpoint
    hello = [{"role": "user", "content": "hello"}]

    for name in (job.fine_tuned_model, checkpoint):
        with pytest.raises(openai.NotFoundError) as refused:
            client.chat.completions.create(model=name, messages=hello)
        assert refused.value.code == "model_not_found"
    server.state.advance(DEPLOYING_SECONDS)
    for name in (job.fine_tuned_model, checkpoint, "gpt-4o-mini"):
        assert (
            "hello" in client.chat.completions.create(model=name, messages=hello).choices[0].message.content
        )
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ft:gpt-4o-mini:someone-else::x", messages=hello)


def test_chats_stream_as_server_sent_events_with_a_closing_usage_chunk(server, client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini-2024-07-18",
        messages=[{"role": "user", "content": "tell me more"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "(stand-in answer from gpt-4o-mini-2024-07-18) You said: tell me more"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len(
        [c for c in chunks if c.choices and c.choices[0].delta.content]
    )
    assert all(c.usage is None for c in chunks[:-1])
    plain = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    assert all(c.choices for c in plain)


def test_a_chat_stops_at_a_stop_sequence_or_the_token_limit(client):
    hello = [{"role": "user", "content": "one two three four"}]
    cut = client.chat.completions.create(model="gpt-4o-mini", messages=hello, stop=["three"])
    assert cut.choices[0].message.content.endswith("two ")
    assert cut.choices[0].finish_reason == "stop"
    short = client.chat.completions.create(model="gpt-4o-mini", messages=hello, max_completion_tokens=3)
    assert short.choices[0].finish_reason == "length"
    assert short.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError, match="maximum length 4"):
        client.chat.completions.create(model="gpt-4o-mini", messages=hello, stop=list("abcde"))
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="gpt-4o-mini", messages=hello, temperature=3)


def test_models_carry_the_shutdown_dates_it_is_given_and_fine_tunes_follow_their_base(server, client):
    server.state.shutdown_dates["gpt-4o-mini-2024-07-18"] = "2027-03-01"
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client).id)
    server.state.run_to_completion(job.id)
    tuned = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model

    listed = {model.id: model.model_dump() for model in client.models.list()}

    assert listed["gpt-4o-mini-2024-07-18"]["shutdown_date"] == "2027-03-01"
    assert listed[tuned]["shutdown_date"] == "2027-03-01"
    assert listed["gpt-4.1-2025-04-14"].get("shutdown_date") is None
    assert client.models.retrieve(tuned).model_dump()["shutdown_date"] == "2027-03-01"
    server.state.shutdown_dates[tuned] = "2027-02-01"
    assert client.models.retrieve(tuned).model_dump()["shutdown_date"] == "2027-02-01"
