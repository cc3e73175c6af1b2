"""The runs list of a project: filtered, paged, with each run's progress."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from finetune_portal.jobs.list_filters import JobFilterForm
from finetune_portal.jobs.selectors.lists import jobs_for_project, runs_progress
from finetune_portal.projects.access import get_project_access

RUNS_PER_PAGE = 50


@require_GET
def job_list(request, slug: str):
    access = get_project_access(request.user, slug)
    filters = JobFilterForm(request.GET, project=access.project)
    jobs = filters.filter(jobs_for_project(access.project))
    page = Paginator(jobs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    listed = list(page.object_list)
    progress = runs_progress(listed)
    for job in listed:
        job.progress = progress.get(job.pk)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "access": access,
        "project": access.project,
        "filters": filters,
        "page": page,
        "jobs": listed,
        "query": query.urlencode(),
        "compare_error": request.GET.get("compare_error", ""),
    }
    return render(request, "jobs/list.html", context)
