"""The job page, and the parts of it that HTMX refreshes alone."""

from __future__ import annotations

import functools

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.jobs.selectors.lists import job_events_for_page, job_progress
from finetune_portal.jobs.selectors.live import job_for_page, job_live_version, job_live_version_for
from finetune_portal.jobs.states import JobStatus
from finetune_portal.jobs.views.job_parts import (
    LIVE_PARTS,
    PAGE_PARTS,
    fine_tuned_model_of,
    shared_parts,
    with_csrf_token,
    without_csrf_slot,
)
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.selectors import project_month_spend
from finetune_portal.providers.registry import provider_or_none

# Parts of the job page each provider may word its own way, as "<its template_folder>/job_<part>.html";
# the neutral wording in jobs/parts/ stands in where a provider has none.
PROVIDER_PARTS = ("cost", "chart_help", "checkpoints_caption", "notice")
NEUTRAL_PARTS_FOLDER = "jobs/parts"


def _provider_parts(provider) -> dict[str, list[str]]:
    """For each of PROVIDER_PARTS, the templates to try in order (``{% include %}`` takes the first)."""
    folders = [provider.template_folder] if provider and provider.template_folder else []
    return {
        part: [f"{folder}/job_{part}.html" for folder in [*folders, NEUTRAL_PARTS_FOLDER]]
        for part in PROVIDER_PARTS
    }


def _fragment_response(job, content: str) -> HttpResponse:
    return (HttpResponseStopPolling if job.is_final else HttpResponse)(content)


@require_GET
def job_detail(request, slug: str, job_id: int):
    """The job page; an HTMX refresh of one of LIVE_PARTS gets only that part, and 286 once the job ends."""
    part = request.GET.get("part")
    if (
        request.htmx
        and part == "live"
        and job_live_version(request.user, slug, job_id) == request.GET.get("v")
    ):
        return HttpResponse(status=204)  # htmx swaps nothing and keeps polling
    access = get_project_access(request.user, slug)
    job = job_for_page(access.project, job_id)
    can_cancel = access.can_control_job(job) and not job.is_final
    provider = provider_or_none(job.provider)
    # Derived from can_cancel and the status, which the parts' key covers, so shared parts stay right.
    pausable = can_cancel and provider is not None and provider.capabilities.pause
    live_version = job_live_version_for(job)
    context = {
        "access": access,
        "project": access.project,
        "job": job,
        "can_cancel": can_cancel,
        "can_pause": pausable and job.status == JobStatus.RUNNING,
        "can_resume": pausable and job.status == JobStatus.PAUSED,
        "live_version": live_version,
        "provider_parts": _provider_parts(provider),
        "can_approve": access.can_approve_jobs and job.status == JobStatus.AWAITING_APPROVAL,
    }

    @functools.cache
    def part_context() -> dict:
        # Everything any part reads (read on a cache miss only, once per change for every viewer).
        events, step_log, step_log_count = job_events_for_page(job)
        return {
            **context,
            "progress": job_progress(job),
            "events": events,
            "step_log": step_log,
            "step_log_count": step_log_count,
            "transitions": job.transitions.select_related("actor"),
            "model": fine_tuned_model_of(job),
            "checkpoints": job.checkpoints.all(),
        }

    def parts_html(names: tuple[str, ...]) -> dict[str, str]:
        return shared_parts(
            request,
            job,
            names,
            can_cancel=can_cancel,
            can_use_playground=access.can_use_playground,
            context=part_context,
        )

    if request.htmx and part in LIVE_PARTS:
        return _fragment_response(job, without_csrf_slot(parts_html((part,))[part]))
    context["parts"] = {name: with_csrf_token(request, html) for name, html in parts_html(PAGE_PARTS).items()}
    context["chart_urls"] = {
        "metrics": reverse("jobs:metrics", args=[slug, job.pk]),
        "live": f"{reverse('jobs:live', args=[slug])}?jobs={job.pk}",
    }
    if job.status == JobStatus.AWAITING_APPROVAL:
        context["spend"] = project_month_spend(access.project)
    return render(request, "jobs/detail.html", context)
