"""Probes: saved conversations asked of a model in one click, one Celery task per probe, one answer per
probe and run however often a task is delivered, shown in a grid that fills in."""

from __future__ import annotations

import json

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from finetune_portal.celery import app as celery_app
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.playground.models import Probe, ProbeAnswer, ProbeAnswerStatus, ProbeRun
from finetune_portal.playground.services import probe_answer_run, probe_run_start, probe_save
from finetune_portal.playground.tasks import probe_answer_run_task
from tests.celery_support import broker_for_test, wait_for
from tests.factories import PASSWORD
from tests.playground import paced_provider

CONVERSATION = [
    {"role": "user", "content": "What is our refund window?"},
    {"role": "assistant", "content": "30 days."},
    {"role": "user", "content": "And for sale items?"},
    {"role": "assistant", "content": "14 days."},
]


def _login(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def _save(cast, name="Refunds", messages=CONVERSATION, settings=None):
    return probe_save(
        project=cast.project, user=cast.member, name=name, messages=messages, settings=settings or {}
    )


@pytest.mark.django_db
def test_saving_keeps_the_conversation_up_to_its_last_user_turn_with_its_settings(client, cast, scripted):
    response = _login(client, cast.member).post(
        reverse("playground:probe_save", args=["bank-reviews"]),
        data=json.dumps({"name": "Refunds", "messages": CONVERSATION, "settings": {"temperature": "0.3"}}),
        content_type="application/json",
    )

    assert response.status_code == 201
    probe = Probe.objects.get()
    assert probe.messages == CONVERSATION[:3]
    assert probe.settings == {"temperature": 0.3}
    assert (probe.project, probe.created_by) == (cast.project, cast.member)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "", "messages": CONVERSATION}, "Give the probe a name."),
        ({"name": "Refunds", "messages": []}, "Write a message first."),
        (
            {"name": "Refunds", "messages": CONVERSATION, "settings": {"top_p": 2}},
            "Top p must be between 0 and 1",
        ),
        ({"name": "refunds", "messages": CONVERSATION}, "already has a probe named 'refunds'"),
    ],
)
def test_a_probe_that_cannot_be_saved_says_why_and_saves_nothing(client, cast, scripted, body, message):
    _save(cast)
    response = _login(client, cast.member).post(
        reverse("playground:probe_save", args=["bank-reviews"]),
        data=json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert Probe.objects.count() == 1


@pytest.mark.django_db
def test_a_probe_task_delivered_twice_asks_the_model_once(
    cast, scripted, adapter, django_capture_on_commit_callbacks
):
    _save(cast, settings={"temperature": "0.3"})
    with django_capture_on_commit_callbacks() as sent:
        run = probe_run_start(project=cast.project, user=cast.member, model=adapter, allowed=lambda: True)
    row = run.answers.get()

    first = probe_answer_run(probe_answer_id=row.pk)
    again = probe_answer_run(probe_answer_id=row.pk)

    assert len(sent) == 1  # the tasks go out once the run is committed
    assert first is not None
    assert first.status == ProbeAnswerStatus.DONE
    assert again is None
    answer = ChatAnswer.objects.get()
    assert (answer.source, answer.model_name, answer.output) == ("probe", adapter.name, "Hello there")
    assert answer.probe_answer == row
    assert answer.messages == CONVERSATION[:3]
    assert len(scripted.calls) == 1
    assert scripted.calls[0]["settings"].temperature == 0.3


@pytest.mark.django_db
def test_a_second_click_while_the_run_is_answering_returns_that_run(cast, scripted, adapter):
    _save(cast)
    _save(cast, name="Greeting", messages=[{"role": "user", "content": "Hello"}])

    first = probe_run_start(project=cast.project, user=cast.member, model=adapter, allowed=lambda: True)
    second = probe_run_start(project=cast.project, user=cast.member, model=adapter, allowed=lambda: True)

    assert first == second
    assert ProbeAnswer.objects.count() == 2


@pytest.mark.django_db
def test_probes_past_the_rate_limit_are_marked_not_sent(client, cast, scripted, adapter, settings):
    settings.INFERENCE_RATE_LIMIT = "1/m"
    _save(cast)
    _save(cast, name="Greeting", messages=[{"role": "user", "content": "Hello"}])

    response = _login(client, cast.member).post(
        reverse("playground:probe_run", args=["bank-reviews"]), {"model": adapter.name}, follow=True
    )

    statuses = sorted(ProbeAnswer.objects.values_list("status", flat=True))
    assert statuses == [ProbeAnswerStatus.LIMITED, ProbeAnswerStatus.PENDING]
    assert "1 probe(s) were not sent: Rate limited" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_run_on_two_models_with_a_real_worker_fills_the_grid(client, cast, scripted, adapter):
    _save(cast)
    _save(cast, name="Greeting", messages=[{"role": "user", "content": "Hello"}])
    member = _login(client, cast.member)
    grid_url = reverse("playground:probe_grid", args=["bank-reviews"])

    with (
        broker_for_test(celery_app, "memory://") as app,
        start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10),
    ):
        for name in (adapter.name, paced_provider.BASE):
            member.post(reverse("playground:probe_run", args=["bank-reviews"]), {"model": name})
        wait_for(lambda: ProbeAnswer.objects.filter(status=ProbeAnswerStatus.DONE).count() == 4)
        # A task delivered again (a worker lost after finishing) changes nothing.
        probe_answer_run_task.delay(ProbeAnswer.objects.first().pk).get(timeout=10)

    assert ChatAnswer.objects.filter(source="probe").count() == 4
    assert ProbeRun.objects.count() == 2
    grid = member.get(grid_url).content.decode()
    assert grid.count("Hello there") == 4  # both probes on both models (the two providers say the same)
    assert "hx-trigger" not in grid  # settled: the grid stops polling
    one_model = member.get(reverse("playground:probes", args=["bank-reviews"]), {"model": adapter.name})
    assert one_model.content.decode().count("Hello there") == 2


@pytest.mark.django_db
def test_the_grid_polls_while_answers_are_on_their_way(client, cast, scripted, adapter):
    _save(cast)
    probe_run_start(project=cast.project, user=cast.member, model=adapter, allowed=lambda: True)

    grid = _login(client, cast.member).get(reverse("playground:probe_grid", args=["bank-reviews"]))

    assert 'hx-trigger="every 2s"' in grid.content.decode()
    assert "Waiting…" in grid.content.decode()


@pytest.mark.django_db
def test_a_model_that_fails_shows_its_error_in_the_cell(client, cast, scripted, adapter):
    from finetune_portal.providers.base import ModelNotReady

    scripted.script = []
    scripted.fail_after = ModelNotReady()
    _save(cast)
    run = probe_run_start(project=cast.project, user=cast.member, model=adapter, allowed=lambda: True)

    row = probe_answer_run(probe_answer_id=run.answers.get().pk)

    assert row is not None
    assert row.status == ProbeAnswerStatus.FAILED
    assert "try again in a minute" in row.error
    grid = _login(client, cast.member).get(reverse("playground:probes", args=["bank-reviews"]))
    assert "try again in a minute" in grid.content.decode()


@pytest.mark.django_db
def test_an_outsider_cannot_run_or_delete_probes(client, cast, scripted, adapter):
    probe = _save(cast)
    outsider = _login(client, cast.outsider)

    run = outsider.post(reverse("playground:probe_run", args=["bank-reviews"]), {"model": adapter.name})
    delete = outsider.post(reverse("playground:probe_delete", args=["bank-reviews", probe.pk]))

    assert (run.status_code, delete.status_code) == (404, 404)
    assert Probe.objects.filter(pk=probe.pk).exists()
    assert not ProbeRun.objects.exists()


@pytest.mark.django_db
def test_a_member_deletes_a_probe(client, cast, scripted):
    probe = _save(cast)

    _login(client, cast.member).post(reverse("playground:probe_delete", args=["bank-reviews", probe.pk]))

    assert not Probe.objects.exists()


def test_the_probe_task_goes_to_the_default_queue():
    route = celery_app.amqp.router.route({}, "finetune_portal.playground.tasks.probe_answer_run_task")
    assert route["queue"].name == "default"
