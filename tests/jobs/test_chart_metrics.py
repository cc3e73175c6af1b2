"""The chart scripts draw the metric vocabulary the page hands them and spell none of it themselves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from finetune_portal.jobs import metrics
from tests.factories import PASSWORD, make_job

CHART_SCRIPTS = Path(__file__).resolve().parents[2] / "static" / "js" / "charts"


def handed_config(html: str) -> dict:
    found = re.search(r'<script id="chart-metrics" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the page carries the chart's metric table"
    return json.loads(found.group(1))


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_the_job_page_hands_the_chart_the_metric_table(member_client, cast):
    job = make_job(cast.project, status="running")

    html = member_client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()

    config = handed_config(html)
    assert config["metrics"] == metrics.chart_config()
    assert list(config["metrics"]) == list(metrics.CHARTED)
    assert config["checkpoint_series"] == list(metrics.CHECKPOINT_SERIES)


@pytest.mark.django_db
def test_the_comparison_page_hands_the_chart_the_metric_table(member_client, cast):
    runs = [make_job(cast.project, status="succeeded") for _ in range(2)]
    url = reverse("jobs:compare", args=[cast.project.slug]) + f"?ids={runs[0].pk},{runs[1].pk}"

    html = member_client.get(url).content.decode()

    assert handed_config(html)["metrics"] == metrics.chart_config()
    # The comparison draws one chart tab; the page says which, and the table says what is in it.
    group = re.search(r'id="compare-chart"[^>]*data-group="([^"]+)"', html).group(1)
    assert group in {metric["group"] for metric in metrics.chart_config().values()}


def test_the_chart_scripts_name_no_metric():
    scripts = sorted(CHART_SCRIPTS.glob("*.js"))
    assert scripts
    for script in scripts:
        text = script.read_text()
        for name in metrics.CHARTED:
            assert name not in text, f"{script.name} spells {name}; it comes from the page"
