"""What a user does to a job from its page: cancel, pause or resume, approve or reject."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from finetune_portal.jobs.selectors.lists import job_for_project
from finetune_portal.jobs.services import job_approve, job_cancel, job_pause, job_reject, job_resume
from finetune_portal.jobs.states import IllegalTransition
from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.base import ProviderError


def _back_to_job(request, slug: str, job):
    if request.htmx:
        # The button sits in a live fragment that HTMX posts; reload the page to show the outcome.
        return HttpResponseClientRedirect(reverse("jobs:detail", args=[slug, job.pk]))
    return redirect("jobs:detail", slug=slug, job_id=job.pk)


@require_POST
def job_cancel_view(request, slug: str, job_id: int):
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    access.require(access.can_control_job(job))
    try:
        job_cancel(job=job, actor=request.user)
    except IllegalTransition:
        messages.warning(request, f"This job is {job.get_status_display().lower()} and cannot be cancelled.")
    except ProviderError as exc:
        messages.error(request, f"Could not cancel: {exc.message}")
    else:
        messages.success(request, "Cancel requested.")
    return _back_to_job(request, slug, job)


@require_POST
def job_pause_view(request, slug: str, job_id: int, action: str):
    """Pause (``action="pause"``) or resume a job at a provider that can."""
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    access.require(access.can_control_job(job))
    try:
        (job_pause if action == "pause" else job_resume)(job=job, actor=request.user)
    except IllegalTransition:
        messages.warning(request, f"This job is {job.get_status_display().lower()} and cannot be {action}d.")
    except ProviderError as exc:
        messages.error(request, f"Could not {action}: {exc.message}")
    else:
        provider = job.get_provider_display()
        note = f"{action.capitalize()} requested; the status changes when {provider} confirms."
        messages.success(request, note)
    return _back_to_job(request, slug, job)


@require_POST
def job_approval_view(request, slug: str, job_id: int, action: str):
    """An ML lead approves (``action="approve"``) or rejects a launch that waits for approval."""
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    access.require(access.can_approve_jobs)
    try:
        if action == "approve":
            job_approve(job=job, actor=request.user)
        else:
            job_reject(job=job, actor=request.user, reason=request.POST.get("reason", "")[:500])
    except IllegalTransition:
        messages.warning(request, f"This job is {job.get_status_display().lower()}: nothing to {action}.")
    except ProviderError as exc:
        messages.error(request, f"Could not {action}: {exc.message}")
    else:
        messages.success(request, "Approved: the job is queued." if action == "approve" else "Rejected.")
    return redirect("jobs:detail", slug=slug, job_id=job.pk)
