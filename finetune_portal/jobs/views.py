from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.jobs.models import Provider
from finetune_portal.jobs.selectors import job_for_project, jobs_for_project
from finetune_portal.jobs.services import job_cancel, job_launch
from finetune_portal.jobs.states import IllegalTransition
from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.registry import get_launch_form_class


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


@require_http_methods(["GET", "POST"])
def job_new(request, slug: str):
    """One launch page; each provider brings its own form (fields, checks and estimates)."""
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    provider_key = request.POST.get("provider") or request.GET.get("provider") or Provider.OPENAI
    if provider_key not in Provider.values:
        raise Http404("No such provider.")
    context = {
        "access": access,
        "project": access.project,
        "providers": Provider.choices,
        "provider": provider_key,
    }
    try:
        form_class = get_launch_form_class(provider_key)
    except ProviderUnavailable as exc:
        return render(request, "jobs/new.html", {**context, "form": None, "unavailable": exc.message})
    form = form_class(request.POST or None, project=access.project, user=request.user)
    if request.method == "POST" and form.is_valid():
        job = form.save()
        try:
            job_launch(job=job, actor=request.user)
        except ProviderError as exc:
            messages.error(request, f"The job was saved as a draft but not launched: {exc.message}")
        else:
            messages.success(request, f"{job.display_name} is queued.")
        return redirect("jobs:detail", slug=slug, job_id=job.pk)
    return render(request, "jobs/new.html", {**context, "form": form})
