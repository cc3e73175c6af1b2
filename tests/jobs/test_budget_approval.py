"""A monthly budget per project: launches that would pass it wait for an ML lead's approval."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.jobs.services import job_approve, job_launch, job_reject
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.projects.selectors import project_month_spend
from tests.factories import PASSWORD, make_job


@pytest.fixture
def sent():
    """What was handed to the provider's worker (the broker edge)."""
    with mock.patch("finetune_portal.providers.openai.provider.OpenAIProvider.enqueue_start") as enqueue:
        yield enqueue


def _budget(project, amount):
    project.monthly_budget_usd = Decimal(amount)
    project.save()


@pytest.mark.django_db
def test_spend_counts_actual_costs_and_estimates_of_unfinished_jobs(cast):
    make_job(cast.project, status="succeeded", actual_cost=Decimal("3.50"), estimated_cost=Decimal("9"))
    make_job(cast.project, status="running", estimated_cost=Decimal("2.25"))
    make_job(cast.project, status="failed", estimated_cost=Decimal("40"))  # never billed
    make_job(cast.project, status="draft", estimated_cost=Decimal("40"))
    make_job(cast.project, status="awaiting_approval", estimated_cost=Decimal("40"))
    old = make_job(cast.project, status="succeeded", actual_cost=Decimal("100"))
    FineTuningJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    make_job(cast.other_project, status="running", estimated_cost=Decimal("70"))
    _budget(cast.project, "10")

    spend = project_month_spend(cast.project)

    assert (spend.actual, spend.estimated, spend.total) == (Decimal("3.50"), Decimal("2.25"), Decimal("5.75"))
    assert spend.remaining == Decimal("4.25")


@pytest.mark.django_db
def test_a_launch_within_the_budget_is_queued(cast, sent, django_capture_on_commit_callbacks):
    _budget(cast.project, "10")
    job = make_job(cast.project, created_by=cast.member, estimated_cost=Decimal("9.99"))

    with django_capture_on_commit_callbacks(execute=True):
        job_launch(job=job, actor=cast.member)

    assert job.status == JobStatus.QUEUED
    sent.assert_called_once_with(job.pk)


@pytest.mark.django_db
def test_a_launch_over_the_budget_waits_and_is_not_sent(cast, sent, django_capture_on_commit_callbacks):
    _budget(cast.project, "10")
    make_job(cast.project, status="running", estimated_cost=Decimal("6"))
    job = make_job(cast.project, created_by=cast.member, estimated_cost=Decimal("5"))

    with django_capture_on_commit_callbacks(execute=True):
        job_launch(job=job, actor=cast.member)

    job.refresh_from_db()
    assert job.status == JobStatus.AWAITING_APPROVAL
    assert "estimated $5.00, $4.00 left of the $10.00 monthly budget" in job.transitions.last().reason
    sent.assert_not_called()


@pytest.mark.django_db
def test_no_budget_or_no_estimate_never_waits(cast, sent):
    job = make_job(cast.project, created_by=cast.member, estimated_cost=Decimal("5000"))
    job_launch(job=job, actor=cast.member)
    assert job.status == JobStatus.QUEUED

    _budget(cast.project, "0")
    local = make_job(cast.project, created_by=cast.member, estimated_cost=None)
    job_launch(job=local, actor=cast.member)
    assert local.status == JobStatus.QUEUED


@pytest.mark.django_db
def test_approving_queues_and_sends_the_job(cast, sent, django_capture_on_commit_callbacks):
    job = make_job(
        cast.project, created_by=cast.member, status="awaiting_approval", estimated_cost=Decimal("5")
    )

    with django_capture_on_commit_callbacks(execute=True):
        job_approve(job=job, actor=cast.ml_lead)

    assert job.status == JobStatus.QUEUED
    sent.assert_called_once_with(job.pk)
    assert job.transitions.last().actor == cast.ml_lead


@pytest.mark.django_db
def test_rejecting_cancels_with_the_reason(cast, sent):
    job = make_job(
        cast.project, created_by=cast.member, status="awaiting_approval", estimated_cost=Decimal("5")
    )

    job_reject(job=job, actor=cast.ml_lead, reason="Wait for March")

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.error_message == "Rejected by lee: Wait for March"
    with pytest.raises(IllegalTransition):
        job_approve(job=job, actor=cast.ml_lead)
    sent.assert_not_called()


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "allowed"), [("member", False), ("ml_lead", True), ("admin", True)])
def test_only_ml_leads_approve_from_the_job_page(client, cast, sent, role, allowed):
    job = make_job(
        cast.project, created_by=cast.member, status="awaiting_approval", estimated_cost=Decimal("5")
    )
    client.login(username=getattr(cast, role).username, password=PASSWORD)

    page = client.get(reverse("jobs:detail", args=[cast.project.slug, job.pk])).content.decode()
    response = client.post(reverse("jobs:approve", args=[cast.project.slug, job.pk]))

    assert ("Approve and launch" in page) is allowed
    assert "Waits for approval" in page
    assert response.status_code == (302 if allowed else 403)
    job.refresh_from_db()
    assert job.status == (JobStatus.QUEUED if allowed else JobStatus.AWAITING_APPROVAL)


@pytest.mark.django_db
def test_approving_twice_says_so(client, cast, sent):
    job = make_job(
        cast.project, created_by=cast.member, status="awaiting_approval", estimated_cost=Decimal("5")
    )
    client.login(username=cast.ml_lead.username, password=PASSWORD)
    client.post(reverse("jobs:approve", args=[cast.project.slug, job.pk]))

    again = client.post(reverse("jobs:reject", args=[cast.project.slug, job.pk]), follow=True)

    assert "nothing to reject" in again.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


@pytest.mark.django_db
def test_the_project_page_shows_spend_marked_actual_and_estimated(client, cast):
    _budget(cast.project, "20")
    make_job(cast.project, status="succeeded", actual_cost=Decimal("3.50"))
    make_job(cast.project, status="running", estimated_cost=Decimal("2.25"))
    client.login(username=cast.member.username, password=PASSWORD)

    content = client.get(reverse("projects:overview", args=[cast.project.slug])).content.decode()

    assert "$5.75" in content
    assert "$14.25 left" in content
    assert "$3.50 actual" in content
    assert "$2.25 <em>estimated</em>" in content
    assert "Change the monthly budget" not in content  # members do not set it


@pytest.mark.django_db
def test_admins_set_the_budget_and_bad_amounts_change_nothing(client, cast):
    client.login(username=cast.admin.username, password=PASSWORD)
    url = reverse("projects:budget", args=[cast.project.slug])

    client.post(url, {"monthly_budget_usd": "250.00"})
    cast.project.refresh_from_db()
    assert cast.project.monthly_budget_usd == Decimal("250.00")

    response = client.post(url, {"monthly_budget_usd": "-5"}, follow=True)
    assert "0 or more" in response.content.decode()
    cast.project.refresh_from_db()
    assert cast.project.monthly_budget_usd == Decimal("250.00")

    client.post(url, {"monthly_budget_usd": ""})
    cast.project.refresh_from_db()
    assert cast.project.monthly_budget_usd is None


@pytest.mark.django_db(transaction=True)
def test_two_launches_at_once_cannot_both_slip_under_the_budget(cast, sent):
    _budget(cast.project, "10")
    jobs = [make_job(cast.project, created_by=cast.member, estimated_cost=Decimal("6")) for _ in range(2)]
    start = threading.Barrier(2)
    errors = []

    def launch(job):
        try:
            start.wait()
            job_launch(job=job, actor=cast.member)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=launch, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    statuses = sorted(
        FineTuningJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)
    )
    assert statuses == [JobStatus.AWAITING_APPROVAL, JobStatus.QUEUED]
