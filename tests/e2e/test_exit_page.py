from __future__ import annotations

import pytest

from finetune_portal.evaluations.models import Evaluation
from finetune_portal.evaluations.services import evaluation_run_in_process
from finetune_portal.registry.models import FineTunedModel
from tests.exits.conftest import imported_model, replacement, reviews_version  # noqa: F401
from tests.factories import make_job
from tests.providers.openai.conftest import (  # noqa: F401
    make_valid_version,
    openai_credential,
    standin,
    wind_down_day,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_exit_page_reads_on_a_desktop_and_a_phone(page, cast, log_in, screenshot):
    version = make_valid_version(cast.project)
    job = make_job(cast.project, created_by=cast.member, status="succeeded", training_version=version)
    FineTunedModel.objects.create(
        job=job,
        provider_model_id="ft:gpt-4o-mini-2024-07-18:acme:support-bot:abc123",
        base_model=job.base_model,
    )
    imported = make_job(cast.project, status="succeeded", imported=True, base_model="gpt-4.1-nano-2025-04-14")
    FineTunedModel.objects.create(
        job=imported, provider_model_id="ft:gpt-4.1-nano-2025-04-14:acme::old", base_model=imported.base_model
    )
    make_job(
        cast.project,
        provider="local_peft",
        status="running",
        training_version=version,
        replaces=job,
        base_model="demo:tiny",
        name="support bot on own GPUs",
    )
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/exit/")
    assert page.get_by_test_id("exit-tab").is_visible()
    screenshot("exit-page-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot("exit-page-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_proving_parity_is_one_click_and_the_verdict_reads_on_a_desktop_and_a_phone(
    page,
    cast,
    log_in,
    screenshot,
    broker,
    imported_model,  # noqa: F811
    replacement,  # noqa: F811
):
    imported_model.validation_version = reviews_version(cast, 30)
    imported_model.save(update_fields=["validation_version"])
    log_in(cast.member)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/p/{cast.project.slug}/exit/")
    button = page.get_by_test_id("prove-parity")
    button.dblclick()
    page.wait_for_url("**/evaluations/*/")
    assert Evaluation.objects.count() == 1

    evaluation_run_in_process(evaluation_id=Evaluation.objects.get().pk)
    page.goto(f"/p/{cast.project.slug}/exit/")
    verdict = page.get_by_test_id("parity")
    assert verdict.inner_text().startswith("The local model is better by 33.3 points, 95% CI")
    screenshot("exit-page-parity-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.get_by_test_id("parity").is_visible()
    screenshot("exit-page-parity-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_replacements_page_offers_the_parity_check(
    page,
    cast,
    log_in,
    screenshot,
    broker,
    imported_model,  # noqa: F811
    replacement,  # noqa: F811
):
    imported_model.validation_version = reviews_version(cast, 12)
    imported_model.save(update_fields=["validation_version"])
    log_in(cast.member)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/p/{cast.project.slug}/jobs/{replacement.pk}/")
    assert page.get_by_test_id("replaces").is_visible()
    screenshot("replacement-job-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    screenshot("replacement-job-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_test_id("prove-parity").click()
    page.wait_for_url("**/evaluations/*/")
    assert Evaluation.objects.get().job == replacement
