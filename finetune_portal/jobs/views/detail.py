"""The job page, and the parts of it that HTMX polls or refreshes alone."""

from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.jobs.selectors.lists import job_events_for_page, job_for_project, job_progress
from finetune_portal.jobs.selectors.live import job_live_version, job_live_version_for
from finetune_portal.jobs.states import JobStatus
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.selectors import project_month_spend
from finetune_portal.providers.registry import provider_or_none

# Parts of the job page served alone to HTMX; each is a partial of jobs/detail.html. The page polls
# "live" (events, with the status section swapped out of band); the others serve single refreshes.
LIVE_PARTS = ("status", "events", "outputs", "live")
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


def _fine_tuned_model(job):
    try:
        return job.fine_tuned_model
    except ObjectDoesNotExist:
        return None


# Long enough to serve a burst of viewers; a new live version makes a new key anyway.
FRAGMENT_CACHE_SECONDS = 60


def _fragment_response(job, content: bytes) -> HttpResponse:
    return (HttpResponseStopPolling if job.is_final else HttpResponse)(content)


@require_GET
def job_detail(request, slug: str, job_id: int):
    """The job page; an HTMX poll for one of LIVE_PARTS gets only that part, and 286 once the job ends."""
    part = request.GET.get("part")
    if (
        request.htmx
        and part == "live"
        and job_live_version(request.user, slug, job_id) == request.GET.get("v")
    ):
        return HttpResponse(status=204)  # htmx swaps nothing and keeps polling
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    can_cancel = access.can_control_job(job) and not job.is_final
    provider = provider_or_none(job.provider)
    # Derived from can_cancel and the status, which the live version covers, so cached fragments stay right.
    pausable = can_cancel and provider is not None and provider.capabilities.pause
    can_pause = pausable and job.status == JobStatus.RUNNING
    can_resume = pausable and job.status == JobStatus.PAUSED
    live_version = job_live_version_for(job)
    fragment_key = None
    if request.htmx and part in LIVE_PARTS:
        # Every viewer of a job polls the same fragment; when the live version moves, they all ask at
        # once. Render it once per version (it holds nothing per user but the Cancel button's presence).
        fragment_key = f"job-fragment:{job.pk}:{part}:{live_version}:{int(can_cancel)}"
        cached = cache.get(fragment_key)
        if cached is not None:
            return _fragment_response(job, cached)
    context = {
        "access": access,
        "project": access.project,
        "job": job,
        "progress": job_progress(job),
        "can_cancel": can_cancel,
        "can_pause": can_pause,
        "can_resume": can_resume,
        "live_version": live_version,
        "fragment": fragment_key is not None,
        "provider_parts": _provider_parts(provider),
        "can_approve": access.can_approve_jobs and job.status == JobStatus.AWAITING_APPROVAL,
    }
    if part in ("events", "live") or part is None:
        context["events"], context["step_log"], context["step_log_count"] = job_events_for_page(job)
    if part in ("status", "live") or part is None:
        context["transitions"] = job.transitions.select_related("actor")
    if part in ("outputs", "live") or part is None:
        context["model"] = _fine_tuned_model(job)
        context["checkpoints"] = job.checkpoints.all()
    if fragment_key is not None:
        content = render(request, f"jobs/detail.html#{part}", context).content
        cache.set(fragment_key, content, timeout=FRAGMENT_CACHE_SECONDS)
        return _fragment_response(job, content)
    context["chart_urls"] = {
        "metrics": reverse("jobs:metrics", args=[slug, job.pk]),
        "live": f"{reverse('jobs:live', args=[slug])}?jobs={job.pk}",
    }
    if job.status == JobStatus.AWAITING_APPROVAL:
        context["spend"] = project_month_spend(access.project)
    return render(request, "jobs/detail.html", context)
