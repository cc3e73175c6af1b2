"""What an open job page needs to stay current: the live stream's state of a job, whether there is
anything new (the polling fallback), and when its live parts changed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404

from finetune_portal.jobs.models import Checkpoint, FineTuningJob, JobEvent, MetricPoint
from finetune_portal.jobs.states import JobStatus

# New points alone refresh the status figures (step, time left, cost) at most this often: each refresh
# renders the part once per open page, and the chart already shows every point as it arrives.
PROGRESS_REFRESH_SECONDS = 30


def job_poll_state(user, slug: str, job_id: int, *, after_step: int | None) -> tuple[str, bool, str]:
    """(status, whether points after ``after_step`` exist, live version) for a job the user may see.

    One indexed query, with the same answer as get_project_access (members and site admins see the
    project's jobs; anyone else gets 404). The chart polls this every 2 s for every open job page and
    most polls find nothing new: those cost this query and nothing else. The live version tells the
    page whether its status and events parts need refreshing, so they need no fast poll of their own.
    """
    newer = MetricPoint.objects.filter(job_id=OuterRef("pk"))
    if after_step is not None:
        newer = newer.filter(step__gt=after_step)
    row = (
        _viewable_job(user, slug, job_id)
        .annotate(has_new=Exists(newer), newest_event=Subquery(_newest_event_id()))
        .values_list("status", "has_new", "updated_at", "last_progress_at", "newest_event")
        .first()
    )
    if row is None:
        raise Http404("No such job.")
    status, has_new, *version = row
    return status, has_new, live_version_token(*version)


def _newest_event_id():
    return JobEvent.objects.filter(job_id=OuterRef("pk")).order_by("-id").values("id")[:1]


def _viewable_job(user, slug: str, job_id: int) -> QuerySet[FineTuningJob]:
    """The job as a one-row queryset when the user may see it (members and site admins), else empty."""
    jobs = FineTuningJob.objects.filter(pk=job_id, project__slug=slug)
    if not getattr(user, "is_superuser", False):
        jobs = jobs.filter(project__memberships__user=user)
    return jobs


def job_live_version(user, slug: str, job_id: int) -> str:
    """A token that changes whenever the job page's live parts (status, timeline, figures, events) would.

    The page sends it back with each refresh; an unchanged token is answered with 204 and nothing is
    rendered. Status moves bump ``updated_at``; new metric points bump ``last_progress_at``, which counts
    in steps of PROGRESS_REFRESH_SECONDS.
    """
    row = (
        _viewable_job(user, slug, job_id)
        .annotate(newest_event=Subquery(_newest_event_id()))
        .values_list("updated_at", "last_progress_at", "newest_event")
        .first()
    )
    if row is None:
        raise Http404("No such job.")
    return live_version_token(*row)


def live_version_token(updated_at, last_progress_at, newest_event_id) -> str:
    changed = f"{updated_at.timestamp():.6f}" if updated_at else "0"
    progress = int(last_progress_at.timestamp() // PROGRESS_REFRESH_SECONDS) if last_progress_at else 0
    return f"{changed}-{progress}-{newest_event_id or 0}"


def job_live_version_for(job: FineTuningJob) -> str:
    if hasattr(job, "newest_event"):  # read with the job by job_for_page
        newest_event = job.newest_event
    else:
        newest_event = job.events.order_by("-id").values_list("id", flat=True).first()
    return live_version_token(job.updated_at, job.last_progress_at, newest_event)


# Parts of the job page other apps fill (the evaluations part): each registers, from its AppConfig.ready,
# a function giving per job a token that moves whenever its part would change. The job's live state
# carries the tokens in ``parts``, so the page refreshes a part when its token moves.
LivePartTokens = Callable[[Sequence[int]], dict[int, str]]
_LIVE_PARTS: dict[str, LivePartTokens] = {}


def register_live_part(name: str, tokens: LivePartTokens) -> None:
    _LIVE_PARTS[name] = tokens


def job_for_page(project, job_id: int) -> FineTuningJob:
    """A job of this project for its page, or 404, in one query: with its model, the job it replaces,
    whether another replaces it, and the newest event and checkpoint ids that key the page's cached
    live parts."""
    newest_checkpoint = Checkpoint.objects.filter(job_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    jobs = (
        FineTuningJob.objects.filter(project=project)
        .select_related(
            "created_by",
            "training_version__dataset",
            "validation_version__dataset",
            "fine_tuned_model",
            "replaces",
        )
        .annotate(
            newest_event=Subquery(_newest_event_id()),
            newest_checkpoint=Subquery(newest_checkpoint),
            # Most jobs were never replaced: the page lists the jobs that replace it only when some do.
            is_replaced=Exists(FineTuningJob.objects.filter(replaces=OuterRef("pk"))),
        )
    )
    return get_object_or_404(jobs, pk=job_id)


def _live_states(jobs: QuerySet[FineTuningJob]) -> dict[int, dict]:
    newest_step = MetricPoint.objects.filter(job_id=OuterRef("pk")).order_by("-step").values("step")[:1]
    newest_checkpoint = Checkpoint.objects.filter(job_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    found = jobs.annotate(
        newest_event=Subquery(_newest_event_id()),
        newest_step=Subquery(newest_step),
        newest_checkpoint=Subquery(newest_checkpoint),
    ).values_list(
        "pk", "status", "updated_at", "last_progress_at", "newest_event", "newest_step", "newest_checkpoint"
    )
    rows = list(found)
    parts = {name: tokens([row[0] for row in rows]) for name, tokens in _LIVE_PARTS.items()}
    states = {}
    for pk, status, updated_at, last_progress_at, newest_event, step, checkpoint in rows:
        live = live_version_token(updated_at, last_progress_at, newest_event)
        job_parts = {name: tokens.get(pk, "") for name, tokens in parts.items()}
        states[pk] = {
            "job": pk,
            "status": status,
            "final": JobStatus(status).is_final,
            "last_step": step,
            "live": live,
            "checkpoint": checkpoint,
            "parts": job_parts,
            # The stream's event id: it moves with a new point or checkpoint as well as with the live parts.
            "version": "/".join([str(step or 0), str(checkpoint or 0), live, *job_parts.values()]),
        }
    return states


# New points up to this many travel inside the live event, so open charts need no request to show them;
# a bigger batch only says how far the job got and each chart asks for the points it lacks.
LIVE_INLINE_POINTS = 50


def job_live_state(job_id: int, previous: dict | None = None) -> dict | None:
    """What the live stream says about a job: status, newest step and live version (one query).

    With the ``previous`` state (the stream's own reading, without Redis) it adds the points recorded
    since then when they are few, as a worker's publication does.
    """
    state = _live_states(FineTuningJob.objects.filter(pk=job_id)).get(job_id)
    if state is None or previous is None:
        return state
    after = previous.get("last_step")
    if after is not None and state["last_step"] is not None and state["last_step"] > after:
        from finetune_portal.jobs.selectors.series import metric_points_since

        points, has_more = metric_points_since(job_id, after_step=after, limit=LIVE_INLINE_POINTS)
        if not has_more:
            state["points"] = {"after": after, "series": points.as_json()["series"]}
    return state


def job_live_states_for_viewer(user, slug: str, job_ids: list[int]) -> dict[int, dict]:
    """The live states of the jobs the user may see (the same rule as the metrics endpoint); 404 when
    any of them is missing or another project's."""
    jobs = FineTuningJob.objects.filter(pk__in=job_ids, project__slug=slug)
    if not getattr(user, "is_superuser", False):
        jobs = jobs.filter(project__memberships__user=user)
    states = _live_states(jobs)
    if set(states) != set(job_ids):
        raise Http404("No such job.")
    return states


def _session_user(user_id: int | None, session_key: str | None):
    """The active user the session still logs in, or None (logged out, another user, deactivated)."""
    from django.conf import settings
    from django.contrib.auth import SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.base import SessionBase
    from django.utils.module_loading import import_string

    if user_id is None or not session_key:
        return None
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(session_key)
    if str(store.get(SESSION_KEY, "")) != str(user_id):
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def viewer_may_watch(user_id: int | None, session_key: str | None, slug: str, job_ids: list[int]) -> bool:
    """Whether an open stream may go on: the session still logs this user in and they may still see
    every job (a logout or a removal from the project ends the stream)."""
    user = _session_user(user_id, session_key)
    if user is None:
        return False
    try:
        job_live_states_for_viewer(user, slug, job_ids)
    except Http404:
        return False
    return True


def runs_live_state(project_id: int, previous: dict | None = None) -> dict:
    """What the runs list's stream says about a project (one query): a version that moves when a run
    is added or removed, changes status, or has progressed (counted in steps of
    PROGRESS_REFRESH_SECONDS, as the job page's figures are: each move makes every open list ask for
    its rows once). ``previous`` (a stream's last reading) adds nothing: the list asks for its rows."""
    from django.db.models import Count, Max

    row = FineTuningJob.objects.filter(project_id=project_id).aggregate(
        runs=Count("pk"), newest=Max("pk"), changed=Max("updated_at"), progressed=Max("last_progress_at")
    )
    changed = f"{row['changed'].timestamp():.6f}" if row["changed"] else "0"
    progressed = int(row["progressed"].timestamp() // PROGRESS_REFRESH_SECONDS) if row["progressed"] else 0
    return {"project": project_id, "version": f"{row['runs']}-{row['newest'] or 0}-{changed}-{progressed}"}


def viewer_may_watch_project(user_id: int | None, session_key: str | None, slug: str) -> bool:
    """Whether a runs list's stream may go on: the session still logs this user in and they may still
    see the project."""
    from finetune_portal.projects.access import get_project_access

    user = _session_user(user_id, session_key)
    if user is None:
        return False
    try:
        get_project_access(user, slug)
    except Http404:
        return False
    return True
