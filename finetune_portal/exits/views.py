from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from finetune_portal.exits.selectors import exit_rows
from finetune_portal.jobs.launch_once import launch_token_new
from finetune_portal.jobs.selectors.lists import job_for_project
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.models import Project
from finetune_portal.providers.registry import all_providers, provider_choices


@require_GET
def exit_page(request, slug: str):
    """Every model of the project at a provider that shuts it down, and how far its exit has got."""
    access = get_project_access(request.user, slug)
    rows = exit_rows(Project.objects.filter(pk=access.project.pk))
    return render(request, "exits/project.html", {"access": access, "project": access.project, "rows": rows})


@require_GET
def exit_overview(request):
    """The same for every project, for a site admin."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only a site admin sees every project's exit.")
    rows = exit_rows(Project.objects.all())
    return render(request, "exits/overview.html", {"rows": rows})


@require_GET
def retrain(request, slug: str, job_id: int):
    """The launch form of a provider that trains on the team's own GPUs, filled in to retrain ``job``'s
    data there; it is sent to the ordinary launch page, which creates the job."""
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    source = job_for_project(access.project, job_id)
    target, initial = None, None
    for provider in all_providers():
        if provider.key != source.provider:
            initial = provider.retrain_initial(source)
            if initial is not None:
                target = provider
                break
    if target is None or initial is None:
        raise Http404("No installed provider can retrain this job.")
    form = target.launch_form_class()(None, project=access.project, user=request.user, initial=initial)
    context = {
        "access": access,
        "project": access.project,
        "providers": provider_choices(),
        "provider": target.key,
        "source_job": source,
        "retrain": True,
        "form": form,
        "form_action": reverse("jobs:new", args=[slug]),
        "launch_token": launch_token_new(),
    }
    return render(request, "jobs/new.html", context)
