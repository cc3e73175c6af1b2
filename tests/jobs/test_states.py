from __future__ import annotations

import pytest

from finetune_portal.jobs.models import JobTransition
from finetune_portal.jobs.services import job_transition
from finetune_portal.jobs.states import ALLOWED, IllegalTransition, JobStatus
from tests.factories import make_job, make_project

LEGAL = [(source, target) for source, targets in ALLOWED.items() for target in sorted(targets)]
ILLEGAL = [
    (source, target)
    for source in JobStatus
    for target in JobStatus
    if target not in ALLOWED[source] and source != target
]


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{s}->{t}" for s, t in LEGAL])
def test_every_legal_transition_moves_and_is_recorded(source, target):
    job = make_job(make_project(), status=source)

    assert job_transition(job=job, to=target, reason="test") is True

    job.refresh_from_db()
    assert job.status == target
    recorded = JobTransition.objects.get(job=job)
    assert (recorded.from_status, recorded.to_status, recorded.reason) == (source, target, "test")
    if target in JobStatus.final():
        assert job.finished_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_every_illegal_transition_raises_and_changes_nothing(source, target):
    job = make_job(make_project(), status=source)

    with pytest.raises(IllegalTransition):
        job_transition(job=job, to=target)

    job.refresh_from_db()
    assert job.status == source
    assert not JobTransition.objects.filter(job=job).exists()


def test_final_states_have_no_way_out():
    for status in JobStatus.final():
        assert ALLOWED[status] == frozenset()


def test_every_non_final_state_can_end():
    for status in set(JobStatus) - JobStatus.final():
        assert ALLOWED[status] & JobStatus.final(), status


@pytest.mark.django_db
def test_compare_and_set_lets_only_one_claimer_win():
    job = make_job(make_project(), status=JobStatus.QUEUED)
    same_job_elsewhere = type(job).objects.get(pk=job.pk)

    first = job_transition(job=job, to=JobStatus.VALIDATING_FILES, expected=[JobStatus.QUEUED])
    second = job_transition(
        job=same_job_elsewhere, to=JobStatus.VALIDATING_FILES, expected=[JobStatus.QUEUED]
    )

    assert (first, second) == (True, False)
    assert JobTransition.objects.filter(job=job).count() == 1


@pytest.mark.django_db
def test_running_sets_started_at_once_and_updates_are_saved_with_the_move():
    job = make_job(make_project(), status=JobStatus.SUBMITTED)
    job_transition(job=job, to=JobStatus.RUNNING)
    started = type(job).objects.get(pk=job.pk).started_at
    job_transition(job=job, to=JobStatus.PAUSED)
    job_transition(job=job, to=JobStatus.RUNNING)
    job_transition(job=job, to=JobStatus.FAILED, error_message="Quota exceeded")

    job.refresh_from_db()
    assert job.started_at == started
    assert job.error_message == "Quota exceeded"
    assert [t.to_status for t in job.transitions.all()] == ["running", "paused", "running", "failed"]
