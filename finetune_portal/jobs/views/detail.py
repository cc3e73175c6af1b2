"""The job page, and the parts of it that HTMX refreshes alone."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.jobs.selectors.live import job_for_page, job_live_version
from finetune_portal.jobs.states import JobStatus
from finetune_portal.jobs.views.job_parts import (
    LIVE_PARTS,
    PAGE_PARTS,
    job_parts_version,
    shared_parts,
    viewer_context,
    with_csrf_token,
    with_part_data,
    without_csrf_slot,
)
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.selectors import project_month_spend


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
    context = {
        **viewer_context(
            job,
            access.project,
            may_control=access.can_control_job(job),
            can_use_playground=access.can_use_playground,
        ),
        "access": access,
        "can_approve": access.can_approve_jobs and job.status == JobStatus.AWAITING_APPROVAL,
    }

    def parts_html(names: tuple[str, ...]) -> dict[str, str]:
        return shared_parts(
            request,
            job,
            names,
            can_cancel=context["can_cancel"],
            can_use_playground=access.can_use_playground,
            context=functools.cache(lambda: with_part_data(job, context)),
        )

    if request.htmx and part in LIVE_PARTS:
        return _fragment_response(job, without_csrf_slot(parts_html((part,))[part]))
    context["parts"] = {name: with_csrf_token(request, html) for name, html in parts_html(PAGE_PARTS).items()}
    # The live stream carries the page's parts from the version the page was built with on.
    live_query = urlencode({"jobs": job.pk, "parts": job_parts_version(job)})
    context["chart_urls"] = {
        "metrics": reverse("jobs:metrics", args=[slug, job.pk]),
        "live": f"{reverse('jobs:live', args=[slug])}?{live_query}",
    }
    if job.status == JobStatus.AWAITING_APPROVAL:
        context["spend"] = project_month_spend(access.project)
    return render(request, "jobs/detail.html", context)
