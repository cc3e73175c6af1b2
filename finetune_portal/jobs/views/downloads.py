"""Files a job produced, as downloads."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from finetune_portal.core.storage import storage_folder_zip
from finetune_portal.jobs.selectors.lists import job_for_project
from finetune_portal.projects.access import get_project_access


@require_GET
def checkpoint_download(request, slug: str, job_id: int, step: int):
    """A checkpoint the local GPU worker stored (its weights and what loads them), as one zip."""
    access = get_project_access(request.user, slug)
    job = job_for_project(access.project, job_id)
    checkpoint = get_object_or_404(job.checkpoints, step=step)
    name = f"job-{job.pk}-checkpoint-{step}"
    archive = storage_folder_zip(checkpoint.storage_uri, root=name) if checkpoint.storage_uri else None
    if archive is None:
        raise Http404("This checkpoint has no files here; a provider's checkpoint is used by its id.")
    return FileResponse(archive, as_attachment=True, filename=f"{name}.zip")
