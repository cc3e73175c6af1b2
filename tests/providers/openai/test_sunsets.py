from __future__ import annotations

from datetime import date

import pytest

from finetune_portal.providers import base
from finetune_portal.providers.openai import sunsets
from finetune_portal.providers.openai.forms import OpenAIJobForm
from finetune_portal.registry.models import FineTunedModel
from tests.factories import make_job
from tests.providers.openai.conftest import make_valid_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def pin_today(monkeypatch):
    def pin(day: date) -> None:
        monkeypatch.setattr(base, "sunset_today", lambda: day)

    return pin


def test_dates_come_from_the_table_and_a_fine_tune_follows_its_base():
    assert sunsets.shutdown_date("ft:gpt-4o-mini-2024-07-18:acme::abc") == date(2027, 1, 14)
    assert sunsets.shutdown_date("gpt-4.1-nano") == date(2026, 10, 23)
    assert sunsets.shutdown_date("my-own-model") is None


def test_a_date_openai_sends_overrides_the_table_for_the_base_and_its_fine_tunes():
    stored = sunsets.shutdown_dates_store(
        [
            {"id": "gpt-4o-mini-2024-07-18", "shutdown_date": "2027-03-01"},
            {"id": "gpt-4.1-2025-04-14", "shutdown_date": None},
            {"id": "gpt-4o-2024-08-06", "shutdown_date": "not a date"},
        ]
    )
    assert stored == 1
    assert sunsets.shutdown_date("ft:gpt-4o-mini-2024-07-18:acme::abc") == date(2027, 3, 1)
    assert sunsets.shutdown_date("gpt-4.1-2025-04-14") == date(2027, 1, 14)
    assert sunsets.shutdown_date("gpt-4o-2024-08-06") == date(2027, 1, 14)


def test_days_left_count_from_the_pinned_day(pin_today):
    pin_today(date(2026, 12, 4))
    sunset = sunsets.model_sunset("ft:gpt-4o-mini-2024-07-18:acme::abc")
    assert sunset is not None
    assert sunset.days_left == 41
    assert not sunset.shut_down
    pin_today(date(2027, 1, 14))
    assert sunset.shut_down


def _bound(cast, model: str):
    version = make_valid_version(cast.project)
    data = {"method": "sft", "base_model": model, "training_version": version.pk}
    return OpenAIJobForm(data, project=cast.project, user=cast.member)


def test_a_launch_after_the_cut_off_is_refused_with_a_link_to_the_exit_page(cast, pin_today):
    pin_today(date(2027, 1, 6))
    form = _bound(cast, "gpt-4o-mini-2024-07-18")
    assert not form.is_valid()
    error = form.errors["base_model"][0]
    assert "no new fine-tuning jobs" in error
    assert "/p/bank-reviews/exit/" in error
    assert form.fine_tuning_closed


def test_the_day_before_the_cut_off_a_launch_is_accepted(cast, pin_today):
    pin_today(date(2027, 1, 5))
    form = _bound(cast, "gpt-4o-mini-2024-07-18")
    assert form.is_valid(), form.errors
    assert form.fine_tuning_closed is None


def test_a_shut_down_base_is_refused_and_not_offered(cast, pin_today):
    pin_today(date(2026, 12, 1))
    form = _bound(cast, "gpt-4.1-nano-2025-04-14")
    assert not form.is_valid()
    assert "shut down gpt-4.1-nano-2025-04-14" in form.errors["base_model"][0]
    offered = {info.name for info in form.model_choices}
    assert "gpt-4o-mini-2024-07-18" in offered
    assert not offered & {"gpt-4.1-nano-2025-04-14", "gpt-3.5-turbo-0125"}


def test_the_launch_page_shows_the_days_left_of_the_default_model(client, cast, pin_today):
    pin_today(date(2026, 12, 4))
    client.force_login(cast.member)
    page = client.get("/p/bank-reviews/jobs/new/?provider=openai").content.decode()
    assert "41 days left" in page


def test_a_shutdown_date_read_from_openai_reaches_the_exit_page_and_the_launch_form(
    client, cast, standin, openai_credential, pin_today
):
    pin_today(date(2026, 12, 4))
    job = make_job(cast.project, created_by=cast.member, status="succeeded")
    FineTunedModel.objects.create(
        job=job, provider_model_id="ft:gpt-4o-mini-2024-07-18:acme::abc", base_model=job.base_model
    )
    client.force_login(cast.member)
    assert "41 days left" in client.get("/p/bank-reviews/exit/").content.decode()

    standin.state.shutdown_dates["gpt-4o-mini-2024-07-18"] = "2027-03-01"
    assert sunsets.shutdown_dates_refresh() >= 1

    assert sunsets.shutdown_date("ft:gpt-4o-mini-2024-07-18:acme::abc") == date(2027, 3, 1)
    exit_page = client.get("/p/bank-reviews/exit/").content.decode()
    assert "87 days left" in exit_page
    assert "1 Mar 2027" in exit_page
    launch = client.get("/p/bank-reviews/jobs/new/?provider=openai").content.decode()
    assert "87 days left" in launch
    assert "41 days left" not in launch
