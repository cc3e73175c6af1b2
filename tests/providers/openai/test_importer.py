"""Importing an OpenAI account's past jobs, against the stand-in."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest

from finetune_portal.jobs.models import FineTuningJob, MetricPoint
from finetune_portal.jobs.selectors.lists import job_progress
from finetune_portal.jobs.services import job_create
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.openai import importer
from finetune_portal.providers.openai.importer import jobs_import, jobs_import_by_ids
from finetune_portal.providers.openai.submit import job_submit
from finetune_portal.registry.models import FineTunedModel
from tests.providers.openai.conftest import chat_lines, queued_job

pytestmark = pytest.mark.django_db


def test_import_brings_in_the_accounts_past_jobs_once_with_their_metrics(cast, standin, openai_credential):
    client = openai.OpenAI(api_key="k", base_url=standin.base_url)
    upload = client.files.create(file=("old.jsonl", chat_lines()), purpose="fine-tune")
    old = [client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id) for _ in range(2)]
    standin.state.run_to_completion()
    ours = queued_job(cast)
    job_submit(job_id=ours.pk, worker_id="task-1")  # launched here: never imported

    imported = jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)
    again = jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)

    assert sorted(job.provider_job_id for job in imported) == sorted(job.id for job in old)
    assert again == []
    for job in imported:
        job.refresh_from_db()
        assert job.imported
        assert job.status == JobStatus.SUCCEEDED
        assert (
            MetricPoint.objects.filter(job=job).count()
            == standin.state.jobs[job.provider_job_id].obj["_total_steps"]
        )
        assert FineTunedModel.objects.filter(job=job).exists()
        # It ran before the portal knew it: its duration is OpenAI's, from both of OpenAI's times.
        remote = standin.state.jobs[job.provider_job_id].obj
        assert job_progress(job).elapsed == timedelta(seconds=remote["finished_at"] - remote["created_at"])


def test_an_imported_job_is_created_like_any_other_and_says_how_it_entered(
    cast, standin, openai_credential, monkeypatch
):
    client = openai.OpenAI(api_key="k", base_url=standin.base_url)
    upload = client.files.create(file=("old.jsonl", chat_lines()), purpose="fine-tune")
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id)
    standin.state.run_to_completion()
    created = []
    monkeypatch.setattr(
        importer, "job_create", lambda **fields: created.append(fields) or job_create(**fields)
    )

    [job] = jobs_import(credential=openai_credential, project=cast.project, actor=cast.admin)

    assert len(created) == 1
    transitions = list(job.transitions.values_list("from_status", "to_status", "reason", "actor"))
    assert transitions == [
        ("draft", "submitted", "Imported from the OpenAI account", cast.admin.pk),
        ("submitted", "succeeded", "OpenAI: succeeded", None),
    ]


def test_an_import_whose_user_is_gone_brings_in_nothing(cast, standin, openai_credential):
    client = openai.OpenAI(api_key="k", base_url=standin.base_url)
    upload = client.files.create(file=("old.jsonl", chat_lines()), purpose="fine-tune")
    client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=upload.id)
    gone = cast.admin.pk
    cast.admin.delete()

    assert (
        jobs_import_by_ids(credential_id=openai_credential.pk, project_id=cast.project.pk, actor_id=gone)
        == []
    )
    assert not FineTuningJob.objects.filter(imported=True).exists()
