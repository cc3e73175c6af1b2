"""The launch page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from finetune_portal.jobs.launch_extras import launch_extra_forms, launch_extras_valid
from finetune_portal.jobs.launch_once import job_create_once, launch_token_new
from finetune_portal.jobs.selectors.lists import job_for_launch_token, job_for_project
from finetune_portal.jobs.services import job_launch
from finetune_portal.jobs.states import JobStatus
from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.base import ProviderError, ProviderUnavailable
from finetune_portal.providers.registry import (
    default_provider_key,
    get_launch_form_class,
    provider_choices,
    provider_keys,
)


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
    # What other apps add (an evaluation when the job succeeds), saved with the job.
    extras = launch_extra_forms(request.POST or None, access=access)
    context["launch_extras"] = extras
    # One token per rendering of the form, kept when the form comes back with errors: a double click, a
    # resent request or a second tab submitting the same form finds the job the first one created.
    token = request.POST.get("launch_token", "") if request.method == "POST" else ""
    context["launch_token"] = token or launch_token_new()
    earlier = job_for_launch_token(access.project, token)
    if earlier is not None:
        messages.info(request, f"This form was already sent: it launched {earlier.display_name}.")
        return redirect("jobs:detail", slug=slug, job_id=earlier.pk)
    if request.method == "POST" and all([form.is_valid(), launch_extras_valid(extras)]):

        def save():
            job = form.save()
            for extra in extras:
                extra.save_for(job=job, user=request.user)
            return job

        try:
            job, created = job_create_once(project=access.project, token=token, save=save)
        except ValidationError:
            # An extra refused (its form says why): nothing was saved, the job included.
            return render(request, "jobs/new.html", {**context, "form": form})
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
