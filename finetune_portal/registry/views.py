from __future__ import annotations

from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from finetune_portal.core.storage import storage_folder_zip
from finetune_portal.projects.access import get_project_access
from finetune_portal.registry.models import FineTunedModel
from finetune_portal.registry.selectors import jobs_with_models

PAGE_SIZE = 50


@require_GET
def model_list(request, slug: str):
    """Every fine-tuned model of the project, with where it came from and how to use it."""
    access = get_project_access(request.user, slug)
    page = Paginator(jobs_with_models(access.project), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/list.html",
        {"access": access, "project": access.project, "page": page, "jobs": page.object_list},
    )


@require_GET
def model_download(request, slug: str, model_id: int):
    """A local model's adapter (weights, tokenizer, chat template) as one zip."""
    access = get_project_access(request.user, slug)
    model = get_object_or_404(
        FineTunedModel.objects.select_related("job"), pk=model_id, job__project=access.project
    )
    if not model.adapter_uri:
        raise Http404("This model lives at its provider; use its model id.")
    name = f"{slugify(model.job.name) or 'job'}-{model.job_id}-adapter"
    archive = storage_folder_zip(model.adapter_uri, root=name)
    if archive is None:
        raise Http404("The adapter's files are missing from storage.")
    return FileResponse(archive, as_attachment=True, filename=f"{name}.zip")
