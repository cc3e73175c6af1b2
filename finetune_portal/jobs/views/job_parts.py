"""The job page's live parts (status, events, outputs), rendered once per change and shared by viewers.

Every viewer of a job sees the same parts until the job changes, and the same change events that move
the live stream (a status move, a new event, progress, a checkpoint, the model) make a new cache key.
Opening the page and the HTMX refreshes read the same cached renderings, so a team watching a run
renders each part once per change instead of once per page view.

A part holds nothing per viewer but whether they may cancel, pause or resume the job and use the
playground (both in its key) and the CSRF token of the forms in it, which is left as a slot: the page
fills it with the viewer's own token (forms work without JavaScript), an HTMX refresh and the live
stream (``live_parts_html``, the parts its events carry) leave it empty (htmx posts with the page's
header).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.template.backends.utils import csrf_input
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from finetune_portal.jobs.selectors.lists import job_events_for_page, job_progress
from finetune_portal.jobs.selectors.live import job_for_page, job_live_version_for
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.registry import provider_or_none

# Parts of the job page served alone to HTMX; each is a partial of jobs/detail.html. The page refreshes
# "live" (events, with the status and outputs sections swapped out of band); the others serve single
# refreshes, and the first three are the pieces the page itself is built from.
LIVE_PARTS = ("status", "events", "outputs", "live")
PAGE_PARTS = ("status", "events", "outputs")
# Where a part's forms take the viewer's CSRF token (jobs/detail.html writes it as this comment).
CSRF_SLOT = "<!--csrf-->"
# Long enough to serve a burst of viewers; a change makes a new key anyway.
PART_CACHE_SECONDS = 60
# Parts of the job page each provider may word its own way, as "<its template_folder>/job_<part>.html";
# the neutral wording in jobs/parts/ stands in where a provider has none.
PROVIDER_PARTS = ("cost", "chart_help", "checkpoints_caption", "notice")
NEUTRAL_PARTS_FOLDER = "jobs/parts"


def provider_parts(provider) -> dict[str, list[str]]:
    """For each of PROVIDER_PARTS, the templates to try in order (``{% include %}`` takes the first)."""
    folders = [provider.template_folder] if provider and provider.template_folder else []
    return {
        part: [f"{folder}/job_{part}.html" for folder in [*folders, NEUTRAL_PARTS_FOLDER]]
        for part in PROVIDER_PARTS
    }


def parts_version(live_version: str, newest_checkpoint: int | None) -> str:
    """What the parts follow, as the page and the live state both know it (a change renders them)."""
    return f"{live_version}/{newest_checkpoint or 0}"


def job_parts_version(job) -> str:
    return parts_version(job_live_version_for(job), getattr(job, "newest_checkpoint", None))


def state_parts_version(state: dict[str, Any]) -> str:
    return parts_version(str(state.get("live", "")), state.get("checkpoint"))


def viewer_context(job, project, *, may_control: bool, can_use_playground: bool) -> dict[str, Any]:
    """What the parts show a viewer: the job, and the controls their permissions give them on it."""
    can_cancel = may_control and not job.is_final
    provider = provider_or_none(job.provider)
    # Derived from can_cancel and the status, which the parts' key covers, so shared parts stay right.
    pausable = can_cancel and provider is not None and provider.capabilities.pause
    return {
        "project": project,
        "job": job,
        "can_cancel": can_cancel,
        "can_pause": pausable and job.status == JobStatus.RUNNING,
        "can_resume": pausable and job.status == JobStatus.PAUSED,
        "can_use_playground": can_use_playground,
        "live_version": job_live_version_for(job),
        "provider_parts": provider_parts(provider),
    }


def with_part_data(job, context: dict[str, Any]) -> dict[str, Any]:
    """Everything any part reads (read on a cache miss only, once per change for every viewer)."""
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


def fine_tuned_model_of(job):
    try:
        return job.fine_tuned_model
    except ObjectDoesNotExist:
        return None


def part_cache_key(job, part: str, *, can_cancel: bool, can_use_playground: bool) -> str:
    """The key of a part's shared rendering: it moves with everything the part shows."""
    model = fine_tuned_model_of(job)
    model_stamp = f"{model.updated_at.timestamp():.6f}" if model is not None else "0"
    newest_checkpoint = getattr(job, "newest_checkpoint", None)
    if newest_checkpoint is None and not hasattr(job, "newest_checkpoint"):
        newest_checkpoint = job.checkpoints.order_by("-id").values_list("id", flat=True).first()
    return (
        f"job-part:{job.pk}:{part}:{job_live_version_for(job)}:{newest_checkpoint or 0}:{model_stamp}"
        f":{int(can_cancel)}{int(can_use_playground)}"
    )


def shared_parts(
    request,
    job,
    parts: tuple[str, ...],
    *,
    can_cancel: bool,
    can_use_playground: bool,
    context: Callable[[], dict[str, Any]],
) -> dict[str, str]:
    """Each part's shared rendering with its CSRF slot still empty, read from the cache in one round
    trip; ``context()`` is called only when some part must be rendered."""
    keys = {
        part: part_cache_key(job, part, can_cancel=can_cancel, can_use_playground=can_use_playground)
        for part in parts
    }
    cached = cache.get_many(keys.values())
    html = {part: cached[key] for part, key in keys.items() if key in cached}
    missing = {part: key for part, key in keys.items() if part not in html}
    if missing:
        for part in missing:
            html[part] = render_to_string(f"jobs/detail.html#{part}", context(), request=request)
        cache.set_many({key: html[part] for part, key in missing.items()}, timeout=PART_CACHE_SECONDS)
    return html


def with_csrf_token(request, html: str) -> SafeString:
    """A part as the page shows it: its forms carry the viewer's own CSRF token."""
    # Our own rendering (escaped by its template) and Django's own token input.
    return mark_safe(html.replace(CSRF_SLOT, str(csrf_input(request))))


def without_csrf_slot(html: str) -> str:
    """A part as an HTMX refresh sends it: no token (htmx posts with the page's header)."""
    return html.replace(CSRF_SLOT, "")


def live_parts_html(job_id: int, *, may_control: bool, may_use_playground: bool) -> dict[str, str] | None:
    """The page's parts as a live event carries them to a viewer with these permissions (from the shared
    renderings, CSRF slot empty), or None when the job is gone."""
    from finetune_portal.jobs.models import FineTuningJob

    project_id = FineTuningJob.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
    if project_id is None:
        return None
    job = job_for_page(project_id, job_id)
    context = viewer_context(job, job.project, may_control=may_control, can_use_playground=may_use_playground)
    html = shared_parts(
        None,
        job,
        PAGE_PARTS,
        can_cancel=context["can_cancel"],
        can_use_playground=may_use_playground,
        context=lambda: with_part_data(job, context),
    )
    return {part: without_csrf_slot(html[part]) for part in PAGE_PARTS}
