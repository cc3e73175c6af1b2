from __future__ import annotations

import pytest

from finetune_portal.registry.models import FineTunedModel
from tests.factories import make_job
from tests.providers.openai.conftest import make_valid_version

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
