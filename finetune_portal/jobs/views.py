from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from finetune_portal.jobs.selectors import job_for_project, jobs_for_project
from finetune_portal.jobs.services import job_cancel
from finetune_portal.jobs.states import IllegalTransition
from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.base import ProviderError


def job_list(request, slug: str):
    access = get_project_access(request.user, slug)
    jobs = jobs_for_project(access.project)[:50]
    return render(request, "jobs/list.html", {"access": access, "project": access.project, "jobs": jobs})


def job_detail(request, slug: str, job_id: int):
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    context = {
        "access": access,
        "project": access.project,
        "job": job,
        "transitions": job.transitions.select_related("actor"),
        "events": job.events.all()[:50],
        "can_cancel": access.can_cancel_job(job) and not job.is_final,
    }
    return render(request, "jobs/detail.html", context)


@require_POST
def job_cancel_view(request, slug: str, job_id: int):
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    access.require(access.can_cancel_job(job))
    try:
        job_cancel(job=job, actor=request.user)
    except IllegalTransition:
        messages.warning(request, f"This job is {job.get_status_display().lower()} and cannot be cancelled.")
    except ProviderError as exc:
        messages.error(request, f"Could not cancel: {exc.message}")
    else:
        messages.success(request, "Cancel requested.")
    return redirect("jobs:detail", slug=slug, job_id=job.pk)
