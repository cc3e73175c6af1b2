from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.core.handlers.wsgi import WSGIRequest
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from finetune_portal.core.live import LiveSource, in_stream_thread, sse_stream
from finetune_portal.core.storage import storage_folder_zip
from finetune_portal.jobs.compare import RunSelectionError, comparison_build, comparison_csv, parse_run_ids
from finetune_portal.jobs.launch_once import job_create_once, launch_token_new
from finetune_portal.jobs.list_filters import JobFilterForm
from finetune_portal.jobs.selectors.lists import (
    job_events_for_page,
    job_for_launch_token,
    job_for_project,
    job_progress,
    jobs_for_project,
    runs_progress,
)
from finetune_portal.jobs.selectors.live import (
    job_live_state,
    job_live_states_for_viewer,
    job_live_version,
    job_live_version_for,
    job_poll_state,
    viewer_may_watch,
)
from finetune_portal.jobs.selectors.series import (
    SeriesSet,
    checkpoint_steps,
    metric_points_full_view,
    metric_points_in_range,
    metric_points_since,
)
from finetune_portal.jobs.services import (
    job_approve,
    job_cancel,
    job_launch,
    job_pause,
    job_reject,
    job_resume,
)
from finetune_portal.jobs.states import IllegalTransition, JobStatus
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.selectors import project_month_spend
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.registry import (
    default_provider_key,
    get_launch_form_class,
    provider_choices,
    provider_keys,
    provider_or_none,
)

RUNS_PER_PAGE = 50
# Parts of the job page served alone to HTMX; each is a partial of jobs/detail.html. The page polls
# "live" (events, with the status section swapped out of band); the others serve single refreshes.
LIVE_PARTS = ("status", "events", "outputs", "live")
# Parts of the job page each provider may word its own way, as "<its template_folder>/job_<part>.html";
# the neutral wording in jobs/parts/ stands in where a provider has none.
PROVIDER_PARTS = ("cost", "chart_help", "checkpoints_caption", "notice")
NEUTRAL_PARTS_FOLDER = "jobs/parts"


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


def _int_param(request, name: str) -> int | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return None
    try:
        return max(0, int(float(raw)))
    except ValueError:
        raise Http404(f"{name} must be a number.") from None


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


@require_GET
def job_metrics(request, slug: str, job_id: int):
    """The chart's data as JSON.

    ``?after_step=N``: the points after step N (the live poll; 286 once the job is final and these
    are its last points). ``?from=A&to=B``: the points in that step range for a zoomed view. Neither:
    the whole run, downsampled.
    """
    after_step = _int_param(request, "after_step")
    if "after_step" in request.GET:
        status, has_new, live_version = job_poll_state(request.user, slug, job_id, after_step=after_step)
        final = JobStatus(status).is_final
        if has_new:
            points, has_more = metric_points_since(job_id, after_step=after_step)
        else:
            points, has_more = SeriesSet(series={}, last_step=None), False
        payload = {
            **points.as_json(),
            "status": status,
            "final": final,
            "has_more": has_more,
            "live_version": live_version,
        }
        if has_new:
            payload["checkpoints"] = checkpoint_steps(job_id)
        if points.last_step is None:
            payload["last_step"] = after_step
        if final and not has_more:
            return JsonResponse(payload, status=HttpResponseStopPolling.status_code)
        return JsonResponse(payload)
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    status, final = job.status, job.is_final
    from_step, to_step = _int_param(request, "from"), _int_param(request, "to")
    if from_step is not None and to_step is not None:
        points = metric_points_in_range(job_id, from_step=from_step, to_step=to_step)
        return JsonResponse({**points.as_json(), "from": from_step, "to": to_step})
    points = metric_points_full_view(job)
    return JsonResponse(
        {
            **points.as_json(),
            "status": status,
            "final": final,
            "checkpoints": checkpoint_steps(job_id),
            "steps_per_epoch": job_progress(job).steps_per_epoch,
        }
    )


# A page watches at most this many jobs at once (the comparison page's limit).
LIVE_MAX_JOBS = 10


@require_GET
async def job_live(request, slug: str):
    """The Server-Sent Events stream of the job page or the comparison page (``?jobs=3,5``).

    Each event is a job's state (status, newest step, live version, and the new points when few);
    the page asks the metrics endpoint for anything it is missing. Under WSGI an open stream would
    hold a worker thread for as long as the page is open, so there it answers 204, which tells the
    browser not to reconnect: the page polls instead.
    """
    try:
        ids = sorted({int(part) for part in request.GET.get("jobs", "").split(",") if part.strip()})
    except ValueError:
        return HttpResponseBadRequest("jobs must be a comma-separated list of job ids.")
    if not 1 <= len(ids) <= LIVE_MAX_JOBS:
        return HttpResponseBadRequest(f"Watch 1 to {LIVE_MAX_JOBS} jobs.")
    user = await request.auser()
    # 404 unless they may see them all; the connection the request opened is closed before it streams.
    await in_stream_thread(job_live_states_for_viewer, user, slug, ids)
    if isinstance(request, WSGIRequest):
        return HttpResponse(status=204)
    sources = [LiveSource(topic=f"job:{pk}", event="job", read=partial(job_live_state, pk)) for pk in ids]
    stream = sse_stream(
        sources,
        last_event_id=request.headers.get("Last-Event-ID", ""),
        still_allowed=partial(viewer_may_watch, user.pk, request.session.session_key, slug, ids),
    )
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx buffers proxied responses unless told not to; a buffered stream never reaches the page.
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
def job_compare(request, slug: str):
    """Two to ten runs side by side at a URL that can be shared; ``?format=csv`` downloads the table."""
    access = get_project_access(request.user, slug)
    if not request.GET.get("ids") and request.GET.getlist("run"):
        # The list's checkboxes without JavaScript: send the browser to the shareable ?ids= URL.
        query = urlencode({"ids": ",".join(request.GET.getlist("run"))}, safe=",")
        return redirect(f"{reverse('jobs:compare', args=[slug])}?{query}")
    try:
        ids = parse_run_ids(request.GET.get("ids"))
    except RunSelectionError as exc:
        messages.warning(request, str(exc))
        return redirect("jobs:list", slug=slug)
    comparison = comparison_build(access.project, ids)
    if request.GET.get("format") == "csv":
        response = HttpResponse(comparison_csv(comparison), content_type="text/csv; charset=utf-8")
        filename = f"{access.project.slug}-runs-{'-'.join(map(str, ids))}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    context = {
        "access": access,
        "project": access.project,
        "comparison": comparison,
        "ids": ",".join(map(str, ids)),
        "chart_runs": comparison.chart_data(),
    }
    return render(request, "jobs/compare.html", context)


@require_GET
def checkpoint_download(request, slug: str, job_id: int, step: int):
    """A checkpoint the local GPU worker stored (its weights and what loads them), as one zip."""
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    checkpoint = get_object_or_404(job.checkpoints, step=step)
    name = f"job-{job.pk}-checkpoint-{step}"
    archive = storage_folder_zip(checkpoint.storage_uri, root=name) if checkpoint.storage_uri else None
    if archive is None:
        raise Http404("This checkpoint has no files here; a provider's checkpoint is used by its id.")
    return FileResponse(archive, as_attachment=True, filename=f"{name}.zip")


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


def _source_job(project, job_id: str | None):
    if not job_id:
        return None
    try:
        return job_for_project(project, int(job_id))
    except ValueError:
        raise Http404("No such job.") from None


@require_http_methods(["GET", "POST"])
def job_new(request, slug: str):
    """One launch page; each provider brings its own form (fields, checks and estimates)."""
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    # ?from=<job id>: start from that job's settings (to run it again, or change one thing).
    source = _source_job(access.project, request.GET.get("from")) if request.method == "GET" else None
    provider_key = (
        request.POST.get("provider")
        or (source and source.provider)
        or request.GET.get("provider")
        or default_provider_key()
    )
    if provider_key not in provider_keys():
        raise Http404("No such provider.")
    context = {
        "access": access,
        "project": access.project,
        "providers": provider_choices(),
        "provider": provider_key,
        "source_job": source,
    }
    try:
        form_class = get_launch_form_class(provider_key)
    except ProviderUnavailable as exc:
        return render(request, "jobs/new.html", {**context, "form": None, "unavailable": exc.message})
    initial = form_class.initial_from_job(source) if source else None
    if initial is not None and request.GET.get("checkpoint", "").isdigit():
        # "Continue from here" on one of the source job's checkpoints (the form checks it is one).
        initial["start_from_checkpoint"] = int(request.GET["checkpoint"])
    form = form_class(request.POST or None, project=access.project, user=request.user, initial=initial)
    # One token per rendering of the form, kept when the form comes back with errors: a double click, a
    # resent request or a second tab submitting the same form finds the job the first one created.
    token = request.POST.get("launch_token", "") if request.method == "POST" else ""
    context["launch_token"] = token or launch_token_new()
    earlier = job_for_launch_token(access.project, token)
    if earlier is not None:
        messages.info(request, f"This form was already sent: it launched {earlier.display_name}.")
        return redirect("jobs:detail", slug=slug, job_id=earlier.pk)
    if request.method == "POST" and form.is_valid():
        job, created = job_create_once(project=access.project, token=token, save=form.save)
        if not created:
            messages.info(request, f"This form was already sent: it launched {job.display_name}.")
            return redirect("jobs:detail", slug=slug, job_id=job.pk)
        try:
            job_launch(job=job, actor=request.user)
        except ProviderError as exc:
            messages.error(request, f"The job was saved as a draft but not launched: {exc.message}")
        else:
            if job.status == JobStatus.AWAITING_APPROVAL:
                messages.warning(
                    request,
                    f"{job.display_name} would pass this month's budget: it waits for an ML lead's approval.",
                )
            else:
                messages.success(request, f"{job.display_name} is queued.")
        return redirect("jobs:detail", slug=slug, job_id=job.pk)
    return render(request, "jobs/new.html", {**context, "form": form})
