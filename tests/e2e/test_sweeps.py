"""The sweep page at desktop and phone width: runs, the best one, the scatter, compare all, the form."""

from __future__ import annotations

import pytest

from finetune_portal.jobs.services import metric_points_record
from finetune_portal.sweeps.models import Sweep, SweepRun
from tests.factories import make_dataset, make_job, make_version
from tests.providers.peft.helpers import chat_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sweep(cast) -> Sweep:
    version = make_version(make_dataset(cast.project, name="colours"), content=chat_jsonl(range(20)))
    space = {"learning_rate": [0.001, 0.005], "lora_rank": [4, 8]}
    sweep = Sweep.objects.create(
        project=cast.project,
        created_by=cast.member,
        name="tiny grid",
        provider="local_peft",
        space=space,
        max_runs=4,
        max_concurrent=2,
    )
    runs = [
        ({"learning_rate": 0.001, "lora_rank": 4}, "succeeded", 1.92),
        ({"learning_rate": 0.001, "lora_rank": 8}, "succeeded", 1.71),
        ({"learning_rate": 0.005, "lora_rank": 4}, "running", 1.45),
        ({"learning_rate": 0.005, "lora_rank": 8}, "draft", None),
    ]
    for index, (params, status, loss) in enumerate(runs):
        job = make_job(
            cast.project,
            name=f"tiny grid · learning_rate={params['learning_rate']}, lora_rank={params['lora_rank']}",
            provider="local_peft",
            base_model="demo:tiny",
            status=status,
            created_by=cast.member,
            training_version=version,
            hyperparameters=params,
        )
        SweepRun.objects.create(sweep=sweep, job=job, index=index, params=params)
        if loss is not None:
            metric_points_record(
                job=job,
                points=[
                    {"step": 5, "train_loss": loss + 0.6, "valid_loss": loss + 0.4},
                    {"step": 10, "train_loss": loss + 0.2, "valid_loss": loss},
                ],
            )
    return sweep


def test_the_sweep_page_on_a_desktop_and_a_phone(page, log_in, screenshot, cast):
    sweep = _sweep(cast)
    log_in(cast.member)

    page.goto(f"/p/{cast.project.slug}/sweeps/{sweep.pk}/")
    assert page.locator('[data-testid="best-run"]').count() == 1
    assert page.locator("svg.scatter circle").count() == 3
    screenshot("sweep-page-desktop")

    page.get_by_role("link", name="lora_rank", exact=True).click()
    page.wait_for_url("**?x=lora_rank")
    assert page.locator("svg.scatter .tick.x").all_text_contents() == ["4", "8"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/p/{cast.project.slug}/sweeps/{sweep.pk}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("sweep-page-phone")

    page.get_by_role("button", name="Compare all").click()
    page.wait_for_url("**/jobs/compare/?ids=*")
    assert page.get_by_text("tiny grid · learning_rate=0.005, lora_rank=4").count() >= 1


def test_the_new_sweep_form_fits_a_phone(page, log_in, screenshot, cast):
    make_version(make_dataset(cast.project, name="colours"), content=chat_jsonl(range(20)))
    log_in(cast.member)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"/p/{cast.project.slug}/sweeps/new/?provider=local_peft")

    assert page.get_by_label("LoRA rank values").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("sweep-new-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    screenshot("sweep-new-desktop")
