"""/v1: one resource per line, each a handler per HTTP method (see api/dispatch.py)."""

from django.urls import path, re_path

from finetune_portal.api.dispatch import not_found, resource
from finetune_portal.api.v1.chat_completions import chat_completion_create
from finetune_portal.api.v1.model_list import model_retrieve, models_list

app_name = "v1"

urlpatterns = [
    path("models", resource(get=models_list), name="models"),
    # Model names hold ':' and, for Hugging Face bases, '/': the rest of the path is the name.
    path("models/<path:model>", resource(get=model_retrieve), name="model"),
    path("chat/completions", resource(post=chat_completion_create), name="chat-completions"),
    re_path(r"^(?P<path>.*)$", not_found),
]
