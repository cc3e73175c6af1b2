from __future__ import annotations

import pytest

from finetune_portal.core.models import AuditEntry
from finetune_portal.jobs.services import job_cancel, job_launch
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.providers.base import FineTuningProvider, ProviderUnavailable
from tests.factories import make_job


class RecordingProvider(FineTuningProvider):
    """Stands in for a provider's queue: records what the service hands over."""

    key = "recording"
    label = "Recording"
    launch_form = "nowhere.Form"
    started: list[int] = []
    cancelled: list[int] = []

    def enqueue_start(self, job_id: int) -> None:
        self.started.append(job_id)

    def enqueue_cancel(self, job_id: int) -> None:
        self.cancelled.append(job_id)


@pytest.fixture
def recording_provider(settings):
    RecordingProvider.started, RecordingProvider.cancelled = [], []
    settings.FINETUNE_PROVIDERS = [f"{__name__}.RecordingProvider"]
    return RecordingProvider


def make_recorded_job(project, **fields):
    return make_job(project, provider=RecordingProvider.key, **fields)


@pytest.mark.django_db
def test_launch_queues_the_job_audits_it_and_enqueues_after_commit(
    cast, recording_provider, django_capture_on_commit_callbacks
):
    job = make_recorded_job(cast.project, created_by=cast.member)

    with django_capture_on_commit_callbacks(execute=True):
        job_launch(job=job, actor=cast.member)

    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert recording_provider.started == [job.pk]
    assert AuditEntry.objects.filter(action="job.launched", target_id=str(job.pk), actor=cast.member).exists()


@pytest.mark.django_db
def test_launching_twice_is_refused(cast, recording_provider, django_capture_on_commit_callbacks):
    job = make_recorded_job(cast.project, created_by=cast.member)
    with django_capture_on_commit_callbacks(execute=True):
        job_launch(job=job, actor=cast.member)
    with pytest.raises(IllegalTransition), django_capture_on_commit_callbacks(execute=True):
        job_launch(job=job, actor=cast.member)
    assert recording_provider.started == [job.pk]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [JobStatus.DRAFT, JobStatus.AWAITING_APPROVAL, JobStatus.QUEUED])
def test_cancel_before_submission_ends_at_once(cast, recording_provider, status):
    job = make_recorded_job(cast.project, created_by=cast.member, status=status)
    job_cancel(job=job, actor=cast.member)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert recording_provider.cancelled == []
    assert AuditEntry.objects.filter(action="job.cancel_requested", target_id=str(job.pk)).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [JobStatus.SUBMITTED, JobStatus.RUNNING, JobStatus.PAUSED])
def test_cancel_at_a_provider_goes_through_cancelling(
    cast, recording_provider, status, django_capture_on_commit_callbacks
):
    job = make_recorded_job(cast.project, created_by=cast.member, status=status)
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=job, actor=cast.member)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLING
    assert recording_provider.cancelled == [job.pk]


@pytest.mark.django_db
def test_cancel_with_a_provider_that_is_not_installed_changes_nothing(cast, settings):
    job = make_job(cast.project, created_by=cast.member, status=JobStatus.RUNNING)
    settings.FINETUNE_PROVIDERS = [f"{__name__}.RecordingProvider"]
    with pytest.raises(ProviderUnavailable):
        job_cancel(job=job, actor=cast.member)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING


@pytest.mark.django_db
def test_an_imported_draft_enters_the_machine_once_with_a_recorded_move(cast, recording_provider):
    from finetune_portal.jobs.services import job_enter_imported

    job = make_recorded_job(cast.project, imported=True)

    assert job_enter_imported(job=job, to=JobStatus.RUNNING, reason="Imported from elsewhere", actor=None)
    assert not job_enter_imported(job=job, to=JobStatus.SUCCEEDED, reason="again", actor=None)

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert list(job.transitions.values_list("from_status", "to_status", "reason")) == [
        ("draft", "running", "Imported from elsewhere")
    ]


@pytest.mark.django_db
def test_a_draft_launched_here_cannot_skip_the_machine_as_an_import(cast, recording_provider):
    from finetune_portal.jobs.services import job_enter_imported

    job = make_recorded_job(cast.project)

    assert not job_enter_imported(job=job, to=JobStatus.SUCCEEDED, reason="shortcut", actor=None)
    job.refresh_from_db()
    assert job.status == JobStatus.DRAFT
    assert not job.transitions.exists()
