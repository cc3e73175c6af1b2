"""The sweep pages: the list, the New sweep form, the page with its runs, scatter and actions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.states import JobStatus
from finetune_portal.sweeps.models import Sweep, SweepRun

pytestmark = pytest.mark.django_db


def _losses(sweep, losses):
    for run, loss in zip(SweepRun.objects.filter(sweep=sweep).order_by("index"), losses, strict=True):
        if loss is not None:
            MetricPoint.objects.create(job_id=run.job_id, step=1, valid_loss=loss + 0.5)
            MetricPoint.objects.create(job_id=run.job_id, step=2, valid_loss=loss)


def test_the_new_sweep_form_creates_a_sweep_and_opens_its_page(client, cast, chat_versions):
    train, valid = chat_versions
    client.force_login(cast.member)
    url = reverse("sweeps:new", args=[cast.project.slug])

    page = client.get(url + "?provider=local_peft")
    assert page.status_code == 200
    for name in (
        "sweep_learning_rate",
        "sweep_epochs",
        "sweep_lora_rank",
        "sweep_lora_alpha",
        "sweep_batch_size",
    ):
        assert f'name="{name}"' in page.content.decode()

    response = client.post(
        url,
        {
            "provider": "local_peft",
            "name": "rank sweep",
            "base_model": "demo:tiny",
            "method": "sft",
            "training_version": train.pk,
            "validation_version": valid.pk,
            "sweep_lora_rank": "4, 8, 8",
            "sweep_learning_rate": "",
            "strategy": "grid",
            "max_runs": 4,
            "max_concurrent": 1,
            "seed": 0,
        },
    )

    sweep = Sweep.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])
    assert sweep.space == {"lora_rank": [4, 8]}
    assert SweepRun.objects.filter(sweep=sweep).count() == 2


def test_a_bad_value_or_a_grid_over_the_cap_comes_back_with_a_message(client, cast, chat_versions):
    train, _ = chat_versions
    client.force_login(cast.member)
    url = reverse("sweeps:new", args=[cast.project.slug])
    data = {
        "provider": "local_peft",
        "name": "s",
        "base_model": "demo:tiny",
        "method": "sft",
        "training_version": train.pk,
        "strategy": "grid",
        "max_runs": 2,
        "max_concurrent": 1,
        "seed": 0,
    }

    bad = client.post(url, {**data, "sweep_learning_rate": "1e-3, fast"})
    over = client.post(url, {**data, "sweep_lora_rank": "4, 8, 16"})
    refused = client.post(url, {**data, "sweep_lora_rank": "0"})

    assert "&#x27;fast&#x27; is not a number." in bad.content.decode()
    assert "The grid has 3 combinations, more than the cap of 2 runs" in over.content.decode()
    assert "Run 1 (lora_rank=0) is not valid" in refused.content.decode()
    assert not FineTuningJob.objects.exists()


def test_the_sweep_page_marks_the_best_run_and_links_compare_all(client, cast, local_sweep):
    sweep = local_sweep(max_concurrent=3)
    _losses(sweep, [0.9, 0.4, None])
    client.force_login(cast.member)

    page = client.get(reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])).content.decode()

    ids = list(SweepRun.objects.filter(sweep=sweep).order_by("index").values_list("job_id", flat=True))
    best_row = re.search(r'<tr data-job="(\d+)" class="best-run"', page)
    assert best_row is not None
    assert int(best_row.group(1)) == ids[1]
    assert page.count('data-testid="best-run"') == 1
    assert page.count('data-figure="evaluation-score"') == 3
    assert f'href="/p/{cast.project.slug}/jobs/compare/?ids={ids[0]},{ids[1]},{ids[2]}"' in page
    assert page.count('class="dot') == 2  # the scatter draws the runs that have a validation loss
    assert "<script" not in page.split("</main>")[0].split("<main")[-1]


def test_cancel_the_rest_in_one_click(client, cast, local_sweep):
    sweep = local_sweep(max_concurrent=1)
    client.force_login(cast.member)
    url = reverse("sweeps:cancel_rest", args=[cast.project.slug, sweep.pk])

    response = client.post(url)
    again = client.post(url, follow=True)

    assert response.status_code == 302
    assert set(FineTuningJob.objects.values_list("status", flat=True)) == {JobStatus.CANCELLED}
    assert "No run was left to cancel." in again.content.decode()


def test_another_member_cannot_cancel_someone_elses_sweep_but_a_lead_can(client, cast, local_sweep):
    from finetune_portal.projects.models import Membership, Role
    from tests.factories import make_user

    sweep = local_sweep(max_concurrent=1)
    other = make_user("max")
    Membership.objects.create(project=cast.project, user=other, role=Role.MEMBER)
    url = reverse("sweeps:cancel_rest", args=[cast.project.slug, sweep.pk])

    client.force_login(other)
    assert client.post(url).status_code == 403
    client.force_login(cast.ml_lead)
    assert client.post(url).status_code == 302


def test_an_outsider_sees_no_sweep(client, cast, local_sweep):
    sweep = local_sweep()
    client.force_login(cast.outsider)

    assert client.get(reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])).status_code == 404
    assert client.get(reverse("sweeps:list", args=[cast.project.slug])).status_code == 404


def test_the_list_shows_the_projects_sweeps_and_the_jobs_list_links_to_it(client, cast, local_sweep):
    local_sweep()
    client.force_login(cast.member)

    sweeps = client.get(reverse("sweeps:list", args=[cast.project.slug])).content.decode()
    jobs = client.get(reverse("jobs:list", args=[cast.project.slug])).content.decode()

    assert "lr sweep" in sweeps
    assert reverse("sweeps:list", args=[cast.project.slug]) in jobs
