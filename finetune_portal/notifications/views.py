from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.notifications.forms import WebhookForm
from finetune_portal.notifications.models import ProjectWebhook
from finetune_portal.notifications.services import project_webhook_set
from finetune_portal.notifications.webhook import DeliveryFailed, webhook_post
from finetune_portal.projects.access import get_project_access


def _masked(url: str) -> str:
    # The path of a chat webhook is its secret: show the host and the last characters only.
    host = url.split("/")[2] if url.count("/") >= 2 else url
    return f"{host}/…{url[-4:]}"


@sensitive_post_parameters("url")
@require_http_methods(["GET", "POST"])
def project_notifications(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        url = form.cleaned_data["url"]
        project_webhook_set(project=access.project, url=url, actor=request.user)
        messages.success(request, "Webhook saved." if url else "Webhook removed.")
        return redirect("notifications:project", slug=slug)
    hook = ProjectWebhook.objects.filter(project=access.project).first()
    context = {
        "access": access,
        "project": access.project,
        "form": form,
        "webhook": _masked(hook.url) if hook else None,
    }
    return render(request, "notifications/project.html", context)


@require_POST
def webhook_test(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    if not ProjectWebhook.objects.filter(project=access.project).exists():
        messages.warning(request, "There is no webhook to test yet.")
        return redirect("notifications:project", slug=slug)
    try:
        webhook_post(
            project_id=access.project.pk, text=f"Test message from finetune_portal ({access.project.name})."
        )
    except DeliveryFailed as exc:
        messages.error(request, f"The test message was not delivered. {exc}")
    else:
        messages.success(request, "The webhook took the test message.")
    return redirect("notifications:project", slug=slug)
