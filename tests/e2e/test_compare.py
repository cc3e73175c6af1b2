from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finetune_portal.jobs.services import metric_points_record
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def curve(steps: int, floor: float, speed: float, valid_every: int, full_key: bool) -> list[dict]:
    points = []
    for step in range(1, steps + 1):
        point = {"step": step, "train_loss": 2.0 * math.exp(-step / speed) + floor + 0.05 * math.sin(step)}
        if step % valid_every == 0:
            key = "full_valid_loss" if full_key else "valid_loss"
            point[key] = 2.1 * math.exp(-step / speed) + floor + 0.1
        points.append(point)
    return points


@pytest.fixture
def three_runs(cast):
    version = make_version(make_dataset(cast.project, name="bank-reviews-chat"))
    now = timezone.now()
    common = {"created_by": cast.member, "status": "succeeded", "training_version": version}
    runs = [
        make_job(
            cast.project,
            name="gpt4o-mini lr1.8",
            hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8},
            trained_tokens=412_000,
            actual_cost=Decimal("1.24"),
            started_at=now - timedelta(minutes=40),
            finished_at=now - timedelta(minutes=5),
            **common,
        ),
        make_job(
            cast.project,
            name="gpt4o-mini lr0.5",
            hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.5},
            trained_tokens=412_000,
            actual_cost=Decimal("1.24"),
            started_at=now - timedelta(minutes=50),
            finished_at=now - timedelta(minutes=12),
            **common,
        ),
        make_job(
            cast.project,
            name="qwen0.5b lora r16",
            provider="local_peft",
            base_model="Qwen/Qwen2.5-0.5B-Instruct",
            hyperparameters={"num_train_epochs": 3, "learning_rate": 2e-4, "lora": {"r": 16, "alpha": 32}},
            trained_tokens=380_000,
            started_at=now - timedelta(hours=2),
            finished_at=now - timedelta(minutes=30),
            **common,
        ),
    ]
    metric_points_record(job=runs[0], points=curve(300, 0.35, 60, 100, True))
    metric_points_record(job=runs[1], points=curve(300, 0.45, 140, 100, True))
    metric_points_record(job=runs[2], points=curve(240, 0.30, 90, 40, False))
    make_job(cast.project, name="not compared", created_by=cast.member)
    return runs


def test_select_three_runs_and_compare_them(page, cast, log_in, screenshot, three_runs):
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/")
    compare = page.get_by_role("button", name="Compare selected")
    expect(compare).to_be_disabled()
    for run in three_runs:
        page.get_by_label(f"Select {run.name}").check()
    screenshot("jobs-list-selected")
    compare.click()

    ids = ",".join(str(run.pk) for run in sorted(three_runs, key=lambda r: r.pk, reverse=True))
    page.wait_for_url(f"**/jobs/compare/?ids={ids}")
    expect(page.get_by_role("heading", name="Compare 3 runs")).to_be_visible()
    expect(page.locator("#compare-chart")).to_have_attribute("data-line-count", "6")
    expect(
        page.locator("#compare-table tr.differs").filter(has_text="Learning-rate multiplier")
    ).to_have_count(1)
    expect(page.locator("#compare-table tr.setting:not(.differs)").first).to_be_visible()
    expect(page.locator(".metric-notes")).to_contain_text("Local GPU (PEFT):")
    page.locator("#compare-chart .u-over").hover()
    expect(page.locator(".chart-readout")).to_contain_text("train")
    screenshot("compare-runs")

    page.get_by_role("switch", name="Show differences only").check()
    expect(page.locator("#compare-table tr.setting:not(.differs)").first).to_be_hidden()
    page.locator('[data-control="lines"]').select_option("valid")
    expect(page.locator("#compare-chart")).to_have_attribute("data-line-count", "3")

    # The URL is the comparison: opened afresh it shows the same runs.
    page.goto(f"/p/{cast.project.slug}/jobs/compare/?ids={ids}")
    for run in three_runs:
        expect(page.locator("#compare-table thead")).to_contain_text(run.name)


def test_zooming_fetches_each_runs_visible_range_at_full_resolution(page, cast, log_in):
    version = make_version(make_dataset(cast.project, name="long-runs"))
    common = {"created_by": cast.member, "status": "succeeded", "training_version": version}
    runs = [make_job(cast.project, name=name, **common) for name in ("long a", "long b")]
    # 6,000 steps each: the overview draws at most 2,000 points per curve.
    metric_points_record(job=runs[0], points=curve(6000, 0.35, 900, 500, True))
    metric_points_record(job=runs[1], points=curve(6000, 0.45, 1500, 500, True))
    log_in(cast.member)
    page.goto(f"/p/{cast.project.slug}/jobs/compare/?ids={runs[0].pk},{runs[1].pk}")
    chart = page.locator("#compare-chart")
    expect(chart).to_have_attribute("data-line-count", "4")
    overview = int(chart.get_attribute("data-point-count"))
    assert overview <= 2 * 2000 + 2 * 12  # two downsampled train curves, twelve validation points each

    fetched: list[str] = []
    page.on("response", lambda r: fetched.append(r.url) if "from=" in r.url else None)
    box = page.locator("#compare-chart .u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.40, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()

    page.wait_for_function(
        "before => Number(document.querySelector('#compare-chart').dataset.pointCount) > before", arg=overview
    )
    assert sorted(url.split("/jobs/")[1].split("/")[0] for url in fetched) == sorted(
        str(run.pk) for run in runs
    )
    expect(page.get_by_role("button", name="Reset zoom")).to_be_visible()
