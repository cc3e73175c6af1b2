from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from finetune_portal.celery import broker_send
from finetune_portal.credentials.services import credential_resolve
from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.openai.forms import OpenAIJobForm
from finetune_portal.providers.openai.provider import KEY
from finetune_portal.providers.openai.tasks import jobs_import_task


@require_GET
def launch_hints(request, slug: str):
    """The launch form's live part: models for the chosen method and the token and cost estimate."""
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    form = OpenAIJobForm(request.GET, project=access.project, user=request.user)
    # The data lists depend on the method: they come along, swapped in place by id.
    for name in ("training_version", "validation_version"):
        form.fields[name].widget.attrs["hx-swap-oob"] = "true"
    return render(request, "providers/openai/_hints.html", {"form": form, "with_data_lists": True})


def account(request, slug: str):
    """Which OpenAI credential this project uses, and bringing in the account's past jobs."""
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_credentials)
    credential = credential_resolve(kind="openai", project=access.project)
    imported = FineTuningJob.objects.filter(project=access.project, provider=KEY, imported=True)
    return render(
        request,
        "providers/openai/account.html",
        {
            "access": access,
            "project": access.project,
            "credential": credential,
            "imported_count": imported.count(),
        },
    )


@require_POST
def import_jobs(request, slug: str):
    """Starts the import in the background: an account with many jobs takes longer than a request."""
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_credentials)
    credential = credential_resolve(kind="openai", project=access.project)
    if credential is None:
        messages.error(request, "Add an OpenAI credential first.")
        return redirect("openai_provider:account", slug=slug)
    started = broker_send(
        lambda: jobs_import_task.delay_on_commit(credential.pk, access.project.pk, request.user.pk),
        what=f"the job import of project {access.project.pk}",
    )
    if not started:
        messages.error(
            request, "The import could not start: the task queue did not answer. Try again shortly."
        )
        return redirect("openai_provider:account", slug=slug)
    messages.success(
        request, f"Importing the jobs of {credential.label}; they appear in the job list as they arrive."
    )
    return redirect("openai_provider:account", slug=slug)
