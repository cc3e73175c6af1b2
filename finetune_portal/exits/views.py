from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.exits.forms import ParityForm
from finetune_portal.exits.parity import parity_start
from finetune_portal.exits.selectors import exit_rows
from finetune_portal.jobs.launch_extras import launch_extra_forms
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
    for row in rows:
        if row.parity_ready and access.can_use_playground:
            row.parity_form = ParityForm(project=access.project, job=row.job)
    return render(request, "exits/project.html", {"access": access, "project": access.project, "rows": rows})


@require_GET
def exit_overview(request):
    """The same for every project, for a site admin."""
    if not request.user.is_superuser:
        raise PermissionDenied("Only a site admin sees every project's exit.")
    rows = exit_rows(Project.objects.all())
    return render(request, "exits/overview.html", {"rows": rows})


def _int_or_404(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404("No such dataset version.") from None


@require_GET
def retrain(request, slug: str, job_id: int):
    """The launch form of a provider that trains on the team's own GPUs, filled in to retrain ``job``'s
    data there; it is sent to the ordinary launch page, which creates the job."""
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    source = job_for_project(access.project, job_id)
    # ?version=N: distil from another version of the project, the model's captured answers.
    distil_from = None
    if request.GET.get("version"):
        distil_from = get_object_or_404(
            DatasetVersion, pk=_int_or_404(request.GET["version"]), dataset__project=access.project
        )
    target, initial = None, None
    for provider in all_providers():
        if provider.key != source.provider:
            initial = provider.retrain_initial(
                source, training_version_id=distil_from.pk if distil_from else None
            )
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
        "distil_from": distil_from,
        "form": form,
        "form_action": reverse("jobs:new", args=[slug]),
        "launch_extras": launch_extra_forms(None, access=access),
        "launch_token": launch_token_new(),
    }
    return render(request, "jobs/new.html", context)


@require_POST
def parity(request, slug: str, job_id: int):
    """Compare the job's model with its newest local replacement on held-out items."""
    access = get_project_access(request.user, slug)
    # It asks models (and may cost money): the same people who may start an evaluation.
    access.require(access.can_use_playground)
    job = job_for_project(access.project, job_id)
    form = ParityForm(request.POST, project=access.project, job=job)
    if not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        messages.error(request, " ".join(problems))
        return redirect("exits:project", slug=slug)
    try:
        evaluation, started = parity_start(
            job=job,
            user=request.user,
            version=form.cleaned_data["version"],
            metric=form.cleaned_data["metric"],
            replacement_id=form.cleaned_data["replacement"],
        )
    except EvaluationInputError as exc:
        messages.error(request, exc.message)
        return redirect("exits:project", slug=slug)
    if started:
        messages.success(request, "Parity check started: both models answer the same held-out items.")
    else:
        messages.info(request, "That parity check is already running.")
    return redirect("evaluations:detail", slug=slug, evaluation_id=evaluation.pk)
