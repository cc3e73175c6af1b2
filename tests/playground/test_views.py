"""Who may use the playground, what the page offers, and how bad requests are answered."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from finetune_portal.inference.models import ChatAnswer
from tests.factories import PASSWORD
from tests.inference import chat_provider
from tests.playground.conftest import HELLO

pytestmark = pytest.mark.django_db


def _client(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def _page(slug="bank-reviews"):
    return reverse("playground:page", args=[slug])


def _answer_url(slug="bank-reviews"):
    return reverse("playground:answer", args=[slug])


def _post_answer(client, body, slug="bank-reviews"):
    return client.post(_answer_url(slug), data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("role", ["member", "ml_lead", "admin", "site_admin"])
def test_every_role_of_the_project_uses_the_playground(client, cast, adapter, role):
    response = _client(client, getattr(cast, role)).get(_page())

    assert response.status_code == 200
    assert adapter.name.encode() in response.content
    assert b"Playground" in response.content


@pytest.mark.parametrize(
    "url",
    [
        _page,
        lambda slug: reverse("playground:probes", args=[slug]),
        lambda slug: reverse("playground:probe_grid", args=[slug]),
    ],
)
def test_an_outsider_gets_404_and_a_visitor_the_login_page(client, cast, adapter, url):
    assert client.get(url("bank-reviews")).status_code == 302
    assert _client(client, cast.outsider).get(url("bank-reviews")).status_code == 404


def test_an_outsider_cannot_ask_a_model_of_another_project(client, cast, adapter):
    response = _post_answer(_client(client, cast.outsider), {"model": adapter.name, "messages": HELLO})

    assert response.status_code == 404
    assert not ChatAnswer.objects.exists()


def test_the_page_preselects_the_model_it_was_opened_for_and_shows_this_months_spend(client, cast, adapter):
    ChatAnswer.objects.create(
        project=cast.project, source="api", model_name="x", provider="openai", cost_usd=Decimal("1.25")
    )
    page = _client(client, cast.member).get(_page(), {"model": [adapter.name, chat_provider.BASE]})

    html = page.content.decode()
    assert html.count(f'value="{adapter.name}" title="{adapter.name}" selected') == 1
    assert html.count(f'value="{chat_provider.BASE}" title="{chat_provider.BASE}" selected') == 1
    assert "$1.2500" in html


def test_a_model_the_project_cannot_chat_with_is_named_in_a_warning(client, cast, adapter):
    page = _client(client, cast.member).get(_page(), {"model": "ft:gpt-4o:someone-else:xyz"})

    assert "ft:gpt-4o:someone-else:xyz is not available to chat with" in page.content.decode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": HELLO, "settings": {"temperature": "3"}}, "Temperature must be between 0 and 2"),
        ({"messages": HELLO, "settings": {"temperature": "warm"}}, "Temperature must be a number"),
        ({"messages": HELLO, "settings": {"top_p": 1.5}}, "Top p must be between 0 and 1"),
        ({"messages": HELLO, "settings": {"max_tokens": "0"}}, "Maximum tokens must be between 1"),
        ({"messages": HELLO, "settings": {"max_tokens": "2.5"}}, "Maximum tokens must be a whole number"),
        ({"messages": HELLO, "settings": {"seed": "abc"}}, "Seed must be a whole number"),
        (
            {"messages": HELLO, "settings": {"presence_penalty": -3}},
            "Presence penalty must be between -2 and 2",
        ),
        (
            {"messages": HELLO, "settings": {"frequency_penalty": 9}},
            "Frequency penalty must be between -2 and 2",
        ),
        ({"messages": HELLO, "settings": {"stop": ["a", "b", "c", "d", "e"]}}, "At most 4 stop sequences"),
        ({"messages": []}, "Write a message first"),
        ({"messages": [*HELLO, {"role": "assistant", "content": "Hi"}]}, "must end with a message from you"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "use system, user or assistant"),
        ({"messages": HELLO, "model": "no-such-model"}, "Pick a model this project can chat with"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_message_and_ask_no_model(client, cast, adapter, body, message):
    response = _post_answer(_client(client, cast.member), {"model": adapter.name, **body})

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not ChatAnswer.objects.exists()


def test_a_body_that_is_not_json_is_refused(client, cast, adapter):
    response = _client(client, cast.member).post(
        _answer_url(), data="{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "The request is not valid JSON."


def test_answers_past_the_projects_rate_are_refused_in_words(client, cast, adapter, settings):
    settings.INFERENCE_RATE_LIMIT = "1/m"
    member = _client(client, cast.member)

    first = _post_answer(member, {"model": adapter.name, "messages": HELLO})
    b"".join(first.streaming_content)
    second = _post_answer(member, {"model": adapter.name, "messages": HELLO})

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["error"].startswith("Rate limited: this project may start 1/m answers")
    assert ChatAnswer.objects.count() == 1


def test_a_succeeded_jobs_try_it_and_its_checkpoint_open_the_playground_on_that_model(client, cast, adapter):
    member = _client(client, cast.member)

    job_page = member.get(reverse("jobs:detail", args=["bank-reviews", adapter.job_id])).content.decode()
    models_page = member.get(reverse("registry:list", args=["bank-reviews"])).content.decode()

    from urllib.parse import quote_plus

    model_link = f"{_page()}?model={quote_plus(adapter.name)}"
    checkpoint_link = f"{_page()}?model={quote_plus(adapter.name + ':ckpt-step-10')}"
    assert f'href="{model_link}"' in job_page
    assert f'href="{checkpoint_link}"' in job_page
    assert f'href="{model_link}"' in models_page
    probes_link = reverse("playground:probes", args=["bank-reviews"]) + f"?model={quote_plus(adapter.name)}"
    assert f'href="{probes_link}"' in models_page


def test_a_model_whose_provider_cannot_chat_gets_no_try_it(client, cast, settings):
    from finetune_portal.registry.services import fine_tuned_model_record
    from tests.factories import make_job

    settings.FINETUNE_PROVIDERS = [chat_provider.SILENT_PATH]
    job = make_job(cast.project, status="succeeded", provider=chat_provider.SILENT_KEY, base_model="tiny")
    fine_tuned_model_record(job=job, base_model="tiny", adapter_uri="file:///adapters/final")

    job_page = _client(client, cast.member).get(reverse("jobs:detail", args=["bank-reviews", job.pk]))

    assert b'data-testid="try-it"' not in job_page.content
