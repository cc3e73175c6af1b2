"""The runs list on a laptop screen: every column fits, estimates are marked, running jobs show progress."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from finetune_portal.jobs.services import metric_points_record
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_runs_list_fits_a_1366_pixel_screen(page, log_in, screenshot, cast):
    version = make_version(make_dataset(cast.project, name="customer-support-conversations-2025"))
    now = timezone.now()
    common = {"created_by": cast.member, "training_version": version}
    make_job(
        cast.project,
        name="support bot, gpt-4.1-mini, lr 1.8, three epochs",
        base_model="ft:gpt-4o-mini-2024-07-18:acme-research:support-v2:AbCdEf12",
        status="succeeded",
        actual_cost=Decimal("12.4031"),
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(minutes=10),
        **common,
    )
    make_job(
        cast.project,
        name="cancelled before training",
        status="cancelled",
        estimated_cost=Decimal("0.83"),
        **common,
    )
    running = make_job(
        cast.project,
        name="qwen 0.5b lora r16",
        provider="local_peft",
        base_model="Qwen/Qwen2.5-0.5B-Instruct",
        status="running",
        started_at=now - timedelta(minutes=6),
        **common,
    )
    metric_points_record(job=running, points=[{"step": 8, "train_loss": 1.2345, "total_steps": 135}])

    page.set_viewport_size({"width": 1366, "height": 800})
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/")

    widths = page.evaluate(
        "() => { const w = document.querySelector('.table-wrap');"
        " return [w.scrollWidth, w.clientWidth, document.documentElement.scrollWidth, innerWidth]; }"
    )
    screenshot("runs-list-1366")
    table_width, wrap_width, page_width, viewport = widths
    assert table_width <= wrap_width, "the runs table scrolls sideways at 1366 px"
    assert page_width <= viewport
    row = page.locator(f'tr[data-job="{running.pk}"]')
    assert row.locator("progress").count() == 1
    assert "step 8 / 135" in row.inner_text()
    assert page.get_by_text("est.").count() == 1
