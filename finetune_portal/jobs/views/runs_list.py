"""The runs list of a project: filtered, paged, with each run's progress, kept current by its stream."""

from __future__ import annotations

from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from finetune_portal.jobs.list_filters import JobFilterForm
from finetune_portal.jobs.selectors.lists import jobs_for_project, runs_progress
from finetune_portal.jobs.selectors.live import runs_live_state
from finetune_portal.projects.access import get_project_access

RUNS_PER_PAGE = 50
# Long enough to serve every open list that asks at once when the version moves.
RESULTS_CACHE_SECONDS = 60


@require_GET
def job_list(request, slug: str):
    """The runs list; ``?part=results&v=<version>`` is the list's refresh: only the results, 204 while
    the version it holds is still current."""
    access = get_project_access(request.user, slug)
    version = runs_live_state(access.project.pk)["version"]
    refresh = request.GET.get("part") == "results"
    if refresh and request.GET.get("v") == version:
        return HttpResponse(status=204)
    context = {
        "access": access,
        "compare_error": request.GET.get("compare_error", ""),
        "live_url": reverse("jobs:runs_live", args=[slug]),
    }
    results, context = runs_results(access.project, request.GET, version, request=request, context=context)
    if refresh:
        return HttpResponse(results)
    # Our own rendering, stored as text in the cache.
    return render(request, "jobs/list.html", {**context, "results": mark_safe(results)})


def runs_results(project, params: QueryDict, version: str, *, request=None, context=None) -> tuple[str, dict]:
    """The list's results for these filters and page at this version (shared through the cache), and
    the context the list page is built with."""
    query = params.copy()
    for name in ("page", "part", "v"):
        query.pop(name, None)
    filters = JobFilterForm(params, project=project)
    context = {
        **(context or {}),
        "project": project,
        "filters": filters,
        "query": query.urlencode(),
        "runs_version": version,
    }
    # The rows hold nothing per viewer: every open list with these filters, and every page opened with
    # them, shares one rendering per version (a run added, moved or progressed makes a new one).
    shown = f"{params.get('page', '')}:{query.urlencode()}"
    results_key = f"runs-results:{project.pk}:{version}:{shown}"
    results = cache.get(results_key)
    if results is None:
        jobs = filters.filter(jobs_for_project(project))
        page = Paginator(jobs, RUNS_PER_PAGE).get_page(params.get("page"))
        listed = list(page.object_list)
        progress = runs_progress(listed)
        for job in listed:
            job.progress = progress.get(job.pk)
        results = render_to_string(
            "jobs/list.html#results", {**context, "page": page, "jobs": listed}, request=request
        )
        cache.set(results_key, results, timeout=RESULTS_CACHE_SECONDS)
    return results, context


def runs_results_for_stream(project_id: int, query: str) -> dict[str, str] | None:
    """The results part as the runs list's stream carries it to a list showing ``query`` (its filters
    and page), at the project's current version; None when the project is gone."""
    from finetune_portal.projects.models import Project

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    version = runs_live_state(project_id)["version"]
    results, _ = runs_results(project, QueryDict(query), version)
    return {"results": results}
