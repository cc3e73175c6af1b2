from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_POST

from finetune_portal.projects.access import get_project_access
from finetune_portal.providers.peft.forms import PeftJobForm


@require_POST
def peft_form_refresh(request, slug: str):
    """The launch form again for what is being edited; the page takes its estimate and version lists.

    Nothing is saved; the values come back as initial values so no field shows an error mid-edit.
    """
    access = get_project_access(request.user, slug)
    access.require(access.can_launch_jobs)
    values = {key: request.POST.get(key) for key in request.POST if key != "csrfmiddlewaretoken"}
    for name in ("packing", "assistant_only_loss"):
        values[name] = name in request.POST
    form = PeftJobForm(None, initial=values, project=access.project, user=request.user)
    return render(request, PeftJobForm.template_name, {"form": form})
