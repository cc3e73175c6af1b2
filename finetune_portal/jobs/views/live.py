"""What keeps an open page current: the chart's metrics endpoint and the live event stream."""

from __future__ import annotations

from functools import partial

from django.core.handlers.wsgi import WSGIRequest
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from finetune_portal.core.live.db import in_request_thread
from finetune_portal.core.live.hub import LiveSource
from finetune_portal.core.live.parts import LiveParts
from finetune_portal.core.live.sse import sse_stream
from finetune_portal.jobs.selectors.lists import job_for_project, job_progress
from finetune_portal.jobs.selectors.live import (
    job_live_state,
    job_live_states_for_viewer,
    job_poll_state,
    runs_live_state,
    viewer_may_watch,
    viewer_may_watch_project,
)
from finetune_portal.jobs.selectors.series import (
    SeriesSet,
    checkpoint_steps,
    metric_points_full_view,
    metric_points_in_range,
    metric_points_since,
)
from finetune_portal.jobs.states import JobStatus
from finetune_portal.jobs.views.job_parts import live_parts_html, state_parts_version
from finetune_portal.jobs.views.runs_list import runs_results_for_stream
from finetune_portal.projects.access import get_project_access


def _int_param(request, name: str) -> int | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return None
    try:
        return max(0, int(float(raw)))
    except ValueError:
        raise Http404(f"{name} must be a number.") from None


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


def viewer_part_permissions(user, slug: str, job_id: int) -> tuple[bool, bool]:
    """(may control the job, may use the playground): what the job page's parts differ by per viewer."""
    access = get_project_access(user, slug)
    return access.can_control_job(job_for_project(access.project, job_id)), access.can_use_playground


# A runs list's filters and page longer than this get no rows in the stream's events (they ask instead).
RUNS_QUERY_MAX_CHARS = 1000
# A page watches at most this many jobs at once (the comparison page's limit).
LIVE_MAX_JOBS = 10


@require_GET
async def job_live(request, slug: str):
    """The Server-Sent Events stream of the job page or the comparison page (``?jobs=3,5``).

    Each event is a job's state (status, newest step, live version, and the new points when few);
    the page asks the metrics endpoint for anything it is missing. The job page (``?parts=<the parts
    version it was built with>``) also gets its status, events and outputs parts as rendered for this
    viewer (``part_html``) whenever they changed, or the names of those too big to carry
    (``parts_to_ask``), so it needs no request to show them. Under WSGI an open stream would
    hold a worker thread for as long as the page is open, so there it answers 204, which tells the
    browser not to reconnect: the page polls instead.
    """
    try:
        ids = sorted({int(part) for part in request.GET.get("jobs", "").split(",") if part.strip()})
    except ValueError:
        return HttpResponseBadRequest("jobs must be a comma-separated list of job ids.")
    if not 1 <= len(ids) <= LIVE_MAX_JOBS:
        return HttpResponseBadRequest(f"Watch 1 to {LIVE_MAX_JOBS} jobs.")
    held_parts = request.GET.get("parts")
    if held_parts is not None and len(ids) != 1:
        return HttpResponseBadRequest("Only the page of one job takes its parts from the stream.")
    user = await request.auser()
    # 404 unless they may see them all; the connection the request opened is closed before it streams.
    await in_request_thread(job_live_states_for_viewer, user, slug, ids)
    if isinstance(request, WSGIRequest):
        return HttpResponse(status=204)
    parts = None
    if held_parts is not None:
        # The viewer's permissions are read once, as the stream opens (a removal ends the stream).
        may_control, may_use_playground = await in_request_thread(viewer_part_permissions, user, slug, ids[0])
        parts = LiveParts(
            key=f"job:{ids[0]}:{int(may_control)}{int(may_use_playground)}",
            version=state_parts_version,
            render=partial(
                live_parts_html, ids[0], may_control=may_control, may_use_playground=may_use_playground
            ),
            held=held_parts,
        )
    sources = [
        LiveSource(topic=f"job:{pk}", event="job", read=partial(job_live_state, pk), parts=parts)
        for pk in ids
    ]
    stream = sse_stream(
        sources,
        last_event_id=request.headers.get("Last-Event-ID", ""),
        still_allowed=partial(viewer_may_watch, user.pk, request.session.session_key, slug, ids),
    )
    return _event_stream_response(stream)


def _event_stream_response(stream) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx buffers proxied responses unless told not to; a buffered stream never reaches the page.
    response["X-Accel-Buffering"] = "no"
    return response


@require_GET
async def runs_live(request, slug: str):
    """The Server-Sent Events stream of the runs list: a ``runs`` event whenever a run of the project
    was added, moved or progressed. A list that names its version and its filters and page
    (``?parts=<version>&query=<its query>``) gets its rows rendered in the event (``part_html.results``);
    otherwise it asks for them. 204 under WSGI, as above."""
    user = await request.auser()
    # 404 unless they may see the project; the connection the request opened is closed before it streams.
    access = await in_request_thread(get_project_access, user, slug)
    if isinstance(request, WSGIRequest):
        return HttpResponse(status=204)
    project_id = access.project.pk
    parts = None
    held = request.GET.get("parts")
    shown = request.GET.get("query", "")
    if held is not None and len(shown) <= RUNS_QUERY_MAX_CHARS:
        # The rows are the same for every viewer of the project: lists with the same filters and page
        # share one rendering per change.
        parts = LiveParts(
            key=f"runs:{project_id}:{shown}",
            version=lambda state: str(state.get("version")),
            render=partial(runs_results_for_stream, project_id, shown),
            held=held,
        )
    sources = [
        LiveSource(
            topic=f"runs:{project_id}", event="runs", read=partial(runs_live_state, project_id), parts=parts
        )
    ]
    stream = sse_stream(
        sources,
        last_event_id=request.headers.get("Last-Event-ID", ""),
        still_allowed=partial(viewer_may_watch_project, user.pk, request.session.session_key, slug),
    )
    return _event_stream_response(stream)
