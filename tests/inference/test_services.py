"""Every answer is measured and recorded once, whether it ends, fails or is abandoned; the records are
the spend ledger."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from finetune_portal.inference import services
from finetune_portal.inference.catalog import served_model_get, served_model_of
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.inference.services import chat_complete, chat_stream, inference_spend
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.base import ModelNotReady, ProviderUnavailable
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings
from finetune_portal.registry.services import fine_tuned_model_record
from tests.factories import make_job
from tests.inference import chat_provider

pytestmark = pytest.mark.django_db

HELLO = [{"role": "user", "content": "Hi there"}]
SETTINGS = ChatSettings(system_prompt="Be kind.", temperature=0.5, stop=("END",), seed=3)


@pytest.fixture
def clock(scripted, monkeypatch):
    fake = chat_provider.Clock()
    scripted.clock = fake
    monkeypatch.setattr(services, "time", fake)
    return fake


@pytest.fixture
def adapter(cast, scripted):
    job = make_job(cast.project, status=JobStatus.SUCCEEDED, provider=chat_provider.KEY, base_model="tiny")
    model = fine_tuned_model_record(job=job, base_model="tiny", adapter_uri="file:///adapters/final")
    return served_model_of(model)


def _stream(cast, model, **overrides):
    arguments = {
        "project": cast.project,
        "user": cast.member,
        "model": model,
        "messages": HELLO,
        "settings": SETTINGS,
        "source": "playground",
    }
    return chat_stream(**{**arguments, **overrides})


def test_a_streamed_answer_is_recorded_once_with_its_figures(cast, scripted, clock, adapter):
    # 0.2 s to the first piece, then 0.8 s for the other three.
    scripted.script = [(0.2, "Hel"), (0.3, "lo "), (0.3, "there"), (0.2, "!")]

    events = list(_stream(cast, adapter))

    assert [e.text for e in events if isinstance(e, ChatDelta)] == ["Hel", "lo ", "there", "!"]
    assert isinstance(events[-1], ChatDone)
    assert scripted.calls[0]["messages"] == HELLO  # the provider prepends the system prompt itself
    assert scripted.calls[0]["settings"] == SETTINGS
    answer = ChatAnswer.objects.get()
    assert (answer.project, answer.user, answer.source) == (cast.project, cast.member, "playground")
    assert (answer.model_name, answer.provider) == (adapter.name, chat_provider.KEY)
    assert answer.fine_tuned_model_id == adapter.fine_tuned_model_id
    assert answer.checkpoint is None
    assert answer.messages == HELLO
    assert answer.settings == {
        "system_prompt": "Be kind.",
        "temperature": 0.5,
        "top_p": None,
        "max_tokens": None,
        "stop": ["END"],
        "seed": 3,
        "presence_penalty": None,
        "frequency_penalty": None,
    }
    assert (answer.output, answer.finish_reason) == ("Hello there!", "stop")
    assert (answer.prompt_tokens, answer.completion_tokens) == (12, 4)
    assert (answer.ttft_ms, answer.latency_ms) == (200, 1000)
    assert answer.tokens_per_second == pytest.approx(4.0)
    assert answer.cost_usd == Decimal("0.0025")
    assert answer.error == ""


def test_a_provider_error_is_recorded_with_what_had_arrived_and_raised(cast, scripted, clock, adapter):
    scripted.script = [(0.1, "Partial")]
    scripted.fail_after = ModelNotReady()

    with pytest.raises(ModelNotReady):
        list(_stream(cast, adapter))

    answer = ChatAnswer.objects.get()
    assert answer.error == ModelNotReady().message
    assert answer.output == "Partial"
    assert (answer.finish_reason, answer.cost_usd, answer.completion_tokens) == ("", None, None)
    assert answer.latency_ms == 100


def test_an_abandoned_stream_is_recorded_and_closes_the_providers_stream(cast, scripted, clock, adapter):
    scripted.script = [(0.1, "One"), (0.1, " two"), (0.1, " three")]
    stream = _stream(cast, adapter)

    assert next(stream) == ChatDelta("One")
    stream.close()

    answer = ChatAnswer.objects.get()
    assert answer.error == services.STOPPED_READING
    assert answer.output == "One"
    assert scripted.closed == [True]


def test_a_model_whose_provider_cannot_chat_is_refused_and_recorded(cast, scripted):
    model = served_model_get(cast.project, chat_provider.BASE)
    assert model is not None
    silent = type(model)(**{**model.__dict__, "provider": chat_provider.SILENT_KEY})

    with pytest.raises(ProviderUnavailable, match="cannot answer chats"):
        list(_stream(cast, silent))
    assert ChatAnswer.objects.get().error == "The Cannot chat provider cannot answer chats."


def test_chat_complete_collects_the_answer(cast, scripted, adapter):
    scripted.script = [(0, "Forty"), (0, "-two")]

    answer = chat_complete(
        project=cast.project, user=None, model=adapter, messages=HELLO, settings=ChatSettings(), source="api"
    )

    assert answer.pk is not None
    assert (answer.output, answer.source, answer.user) == ("Forty-two", "api", None)
    assert ChatAnswer.objects.count() == 1


def test_chat_complete_raises_the_providers_error(cast, scripted, adapter):
    scripted.fail_after = ModelNotReady()
    with pytest.raises(ModelNotReady):
        chat_complete(
            project=cast.project,
            user=None,
            model=adapter,
            messages=HELLO,
            settings=ChatSettings(),
            source="api",
        )
    assert ChatAnswer.objects.get().error


def test_spend_sums_the_projects_priced_answers_since_a_moment(cast, scripted, adapter):
    base = served_model_get(cast.project, chat_provider.BASE)
    for cost in (Decimal("0.0025"), Decimal("0.0100"), None):  # None: a model with no known price
        scripted.done = ChatDone("stop", 1, 1, cost)
        list(_stream(cast, adapter))
    scripted.done = ChatDone("stop", 1, 1, Decimal("0.5"))
    list(_stream(cast, base, project=cast.other_project))  # another project's spend
    aged = ChatAnswer.objects.get(project=cast.project, cost_usd=Decimal("0.0100"))
    ChatAnswer.objects.filter(pk=aged.pk).update(created_at=timezone.now() - timedelta(days=40))
    now = timezone.now()

    assert inference_spend(cast.project, since=now - timedelta(days=30)) == Decimal("0.0025")
    assert inference_spend(cast.project, since=now - timedelta(days=60)) == Decimal("0.0125")
    assert inference_spend(cast.other_project, since=now - timedelta(days=30)) == Decimal("0.5")
    assert inference_spend(cast.project, since=now + timedelta(minutes=1)) == Decimal("0")


@pytest.mark.django_db(transaction=True)
def test_two_answers_streaming_at_once_are_both_recorded(cast, scripted, adapter):
    scripted.script = [(0, "a"), (0, "b")]
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            list(_stream(cast, adapter))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert list(ChatAnswer.objects.values_list("output", flat=True)) == ["ab", "ab"]


def test_a_free_answer_may_wait_to_be_saved_but_one_with_a_cost_is_saved_at_once(cast, scripted, adapter):
    # An evaluation saves many free answers in one statement; the spend ledger never waits for that.
    scripted.script = [(0.0, "Hello")]
    answer, problem = services.chat_collect(
        project=cast.project, user=cast.member, model=adapter, messages=HELLO, settings=SETTINGS,
        source="evaluation", save_free=False,
    )  # fmt: skip
    assert problem is None
    assert answer.pk is not None
    assert answer.cost_usd == Decimal("0.0025")

    scripted.done = ChatDone("stop", prompt_tokens=12, completion_tokens=1, cost_usd=None)
    free, problem = services.chat_collect(
        project=cast.project, user=cast.member, model=adapter, messages=HELLO, settings=SETTINGS,
        source="evaluation", save_free=False,
    )  # fmt: skip
    assert problem is None
    assert free.pk is None
    assert ChatAnswer.objects.count() == 1

    services.answers_save([answer, free])
    assert ChatAnswer.objects.count() == 2
    assert ChatAnswer.objects.get(pk=free.pk).output == "Hello"
