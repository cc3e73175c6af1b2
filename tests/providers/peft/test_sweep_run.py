"""A 4-run sweep on demo:tiny trained by a real GPU-queue worker, two at a time, then compared."""

from __future__ import annotations

import pytest
from django.urls import reverse

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.states import JobStatus
from finetune_portal.sweeps.models import SweepRun
from finetune_portal.sweeps.services import sweep_create
from tests.celery_support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_four_run_sweep_finishes_and_opens_in_the_comparison_page(cast, chat_versions, gpu_worker, client):
    train, valid = chat_versions
    sweep = sweep_create(
        project=cast.project,
        created_by=cast.member,
        provider="local_peft",
        name="tiny grid",
        fixed={
            "base_model": "demo:tiny",
            "method": "sft",
            "training_version": train.pk,
            "validation_version": valid.pk,
            # What is checked is how the runs are scheduled and compared, not what they learn: a few
            # steps each instead of the form's three epochs, with the validation loss the best run is
            # picked by measured at the last one.
            "max_steps": 3,
            "eval_steps": 3,
        },
        space={"learning_rate": [2e-3, 5e-3], "lora_rank": [4, 8]},
        strategy="grid",
        max_runs=4,
        max_concurrent=2,
    )
    jobs = FineTuningJob.objects.filter(sweep_run__sweep=sweep)
    assert sorted(jobs.values_list("status", flat=True)) == ["draft", "draft", "queued", "queued"]

    gpu_worker.watcher.wait_for(4, timeout=600)
    wait_for(lambda: all(status == JobStatus.SUCCEEDED for status in jobs.values_list("status", flat=True)))

    # Never more than two ran at once: each later run was queued only after an earlier one had ended.
    runs = list(SweepRun.objects.filter(sweep=sweep).select_related("job").order_by("index"))
    queued_at = [run.job.transitions.get(to_status=JobStatus.QUEUED).created_at for run in runs]
    finished_at = sorted(run.job.finished_at for run in runs)
    assert queued_at[2] >= finished_at[0]
    assert queued_at[3] >= finished_at[1]

    client.force_login(cast.member)
    page = client.get(reverse("sweeps:detail", args=[cast.project.slug, sweep.pk])).content.decode()
    assert page.count('data-testid="best-run"') == 1
    ids = ",".join(str(run.job_id) for run in runs)
    compare_url = f"/p/{cast.project.slug}/jobs/compare/?ids={ids}"
    assert f'href="{compare_url}"' in page

    compare = client.get(compare_url)
    assert compare.status_code == 200
    for run in runs:
        assert run.job.name in compare.content.decode()
