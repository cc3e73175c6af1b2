"""/v1: one resource per line, each a handler per HTTP method (see api/dispatch.py)."""

from django.urls import path, re_path

from finetune_portal.api.dispatch import not_found, resource
from finetune_portal.api.v1 import files
from finetune_portal.api.v1 import fine_tuning_jobs as ft
from finetune_portal.api.v1.chat_completions import chat_completion_create
from finetune_portal.api.v1.model_list import model_delete, model_retrieve, models_list

app_name = "v1"

urlpatterns = [
    path("models", resource(get=models_list), name="models"),
    # Model names hold ':' and, for Hugging Face bases, '/': the rest of the path is the name.
    path("models/<path:model>", resource(get=model_retrieve, delete=model_delete), name="model"),
    path("chat/completions", resource(post=chat_completion_create), name="chat-completions"),
    path("files", resource(get=files.files_list, post=files.file_create), name="files"),
    path("files/<str:file_id>", resource(get=files.file_retrieve, delete=files.file_delete), name="file"),
    path("files/<str:file_id>/content", resource(get=files.file_content), name="file-content"),
    path("fine_tuning/jobs", resource(get=ft.jobs_list, post=ft.job_create), name="ft-jobs"),
    path("fine_tuning/jobs/<str:job_id>", resource(get=ft.job_retrieve), name="ft-job"),
    path("fine_tuning/jobs/<str:job_id>/cancel", resource(post=ft.job_cancel_view), name="ft-job-cancel"),
    path("fine_tuning/jobs/<str:job_id>/pause", resource(post=ft.job_pause_view), name="ft-job-pause"),
    path("fine_tuning/jobs/<str:job_id>/resume", resource(post=ft.job_resume_view), name="ft-job-resume"),
    path("fine_tuning/jobs/<str:job_id>/events", resource(get=ft.job_events), name="ft-job-events"),
    path(
        "fine_tuning/jobs/<str:job_id>/checkpoints",
        resource(get=ft.job_checkpoints),
        name="ft-job-checkpoints",
    ),
    re_path(r"^(?P<path>.*)$", not_found),
]
