"""What an open job page polls: whether there is anything new, and when its live parts changed."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import Http404

from finetune_portal.jobs.models import FineTuningJob, JobEvent, MetricPoint

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
    newest_event = job.events.order_by("-id").values_list("id", flat=True).first()
    return live_version_token(job.updated_at, job.last_progress_at, newest_event)
