"""Every page of the portal on a phone (390 px wide): nothing scrolls sideways."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from finetune_portal.credentials.services import credential_create
from finetune_portal.jobs.services import job_event_record, metric_points_record
from finetune_portal.registry.services import fine_tuned_model_record
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD
from tests.providers.openai.conftest import make_valid_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LONG_MODEL_ID = "ft:gpt-4o-mini-2024-07-18:acme-research-lab:support-bot-v2:AbCdEf12GhIj"


@pytest.fixture
def portal(cast):
    """A project with something on every page: data, runs of both providers, a model, credentials."""
    project = cast.project
    version = make_valid_version(project, examples=12)
    dataset = version.dataset
    dataset.name = "customer-support-conversations-2025-q3-cleaned"
    dataset.save(update_fields=["name"])
    now = timezone.now()
    done = make_job_of(
        cast,
        name="support bot on gpt-4o-mini with a long descriptive run name",
        status="succeeded",
        training_version=version,
        hyperparameters={"n_epochs": 3, "learning_rate_multiplier": 1.8},
        provider_job_id="ftjob-AbCdEfGhIjKlMnOpQrStUvWx",
        actual_cost=Decimal("1.2345"),
        trained_tokens=412_000,
        started_at=now - timedelta(hours=1),
        finished_at=now,
    )
    fine_tuned_model_record(job=done, base_model="gpt-4o-mini-2024-07-18", provider_model_id=LONG_MODEL_ID)
    local = make_job_of(
        cast,
        name="qwen lora r16",
        provider="local_peft",
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        status="running",
        training_version=version,
        hyperparameters={"epochs": 3, "assistant_only_loss": True, "lora_rank": 16},
        started_at=now - timedelta(minutes=5),
    )
    for job in (done, local):
        metric_points_record(
            job=job, points=[{"step": s, "train_loss": 2 / s, "total_steps": 40} for s in range(1, 21)]
        )
        job_event_record(job=job, message="Fine-tuning job started with a long message " + "x" * 60)
    credential_create(
        kind="openai",
        secret="sk-proj-" + "A" * 80,
        label="Team OpenAI key for the customer-support project",
        base_url="https://api.openai.example.com/v1/organizations/acme-research-lab",
        project=project,
        actor=cast.site_admin,
    )
    credential_create(
        kind="openai",
        secret="sk-admin-" + "B" * 80,
        label="Site-wide OpenAI key",
        base_url="https://api.openai.com/v1",
        actor=cast.site_admin,
    )
    return {"dataset": dataset, "version": version, "jobs": (done, local)}


def make_job_of(cast, **fields):
    from tests.factories import make_job

    return make_job(cast.project, created_by=cast.member, **fields)


def pages(cast, portal) -> dict[str, str]:
    slug = cast.project.slug
    dataset, version = portal["dataset"], portal["version"]
    done, local = portal["jobs"]
    return {
        "projects": "/",
        "project-new": "/projects/new/",
        "overview": f"/p/{slug}/",
        "datasets": f"/p/{slug}/datasets/",
        "dataset-new": f"/p/{slug}/datasets/new/",
        "dataset": f"/p/{slug}/datasets/{dataset.pk}/",
        "dataset-version": f"/p/{slug}/datasets/{dataset.pk}/v/{version.number}/",
        "dataset-upload": f"/p/{slug}/datasets/{dataset.pk}/upload/",
        "jobs": f"/p/{slug}/jobs/",
        "job-new-openai": f"/p/{slug}/jobs/new/?provider=openai",
        "job-new-local": f"/p/{slug}/jobs/new/?provider=local_peft",
        "job-openai": f"/p/{slug}/jobs/{done.pk}/",
        "job-local": f"/p/{slug}/jobs/{local.pk}/",
        "compare": f"/p/{slug}/jobs/compare/?ids={done.pk},{local.pk}",
        "models": f"/p/{slug}/models/",
        "members": f"/p/{slug}/members/",
        "openai-account": f"/p/{slug}/openai/",
        "credentials-site": "/credentials/",
        "credentials-project": f"/credentials/project/{slug}/",
    }


def overflow(page) -> dict:
    """How far the page is wider than the screen, and the widest elements sticking out."""
    return page.evaluate(
        """() => {
            const limit = window.innerWidth;
            const culprits = [];
            for (const el of document.body.querySelectorAll("*")) {
                const box = el.getBoundingClientRect();
                if (box.right > limit + 1 && box.width > 0) {
                    const classes = el.className ? "." + String(el.className).split(" ").join(".") : "";
                    culprits.push(el.tagName.toLowerCase() + classes + " " + Math.round(box.right));
                }
            }
            const width = document.documentElement.scrollWidth;
            return {width: width, viewport: limit, culprits: culprits.slice(0, 6)};
        }"""
    )


def test_every_page_fits_a_390_pixel_phone(browser, live_server, cast, portal):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    context.set_default_timeout(15_000)
    phone = context.new_page()
    phone.goto("/accounts/login/")
    assert overflow(phone)["width"] <= PHONE["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "phone-login.png"), full_page=True)
    phone.get_by_label("Username").fill(cast.site_admin.username)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    phone.wait_for_url("**/")

    too_wide = {}
    for name, url in pages(cast, portal).items():
        response = phone.goto(url)
        assert response.status == 200, f"{name} ({url}) answered {response.status}"
        phone.wait_for_load_state("networkidle")
        phone.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
        measured = overflow(phone)
        if measured["width"] > measured["viewport"]:
            too_wide[name] = measured
    context.close()
    assert too_wide == {}, "pages scroll sideways at 390 px: " + re.sub(r"\s+", " ", repr(too_wide))
