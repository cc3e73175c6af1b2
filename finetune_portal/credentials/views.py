from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.credentials.forms import CredentialForm
from finetune_portal.credentials.models import ProviderCredential
from finetune_portal.credentials.services import credential_create, credential_revoke, credential_test
from finetune_portal.projects.access import get_project_access


def _require_site_admin(user) -> None:
    if not user.is_superuser:
        raise PermissionDenied("Only site admins manage site-wide credentials.")


@sensitive_variables("data", "form")
def _credentials_page(request, *, project, access, redirect_to):
    form = CredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        options = {"organization": data["organization"]} if data["organization"] else {}
        credential = credential_create(
            kind=data["kind"],
            label=data["label"],
            secret=data["secret"],
            base_url=data["base_url"],
            options=options,
            project=project,
            actor=request.user,
        )
        messages.success(request, f"Saved {credential.label} ({credential.masked}).")
        return redirect_to
    credentials = ProviderCredential.objects.filter(project=project).select_related("created_by")
    return render(
        request,
        "credentials/list.html",
        {"form": form, "credentials": credentials, "project": project, "access": access},
    )


# The secret never shows in an error page or report (the POST data, and the locals that hold it).
@sensitive_post_parameters("secret")
@require_http_methods(["GET", "POST"])
def site_credentials(request):
    _require_site_admin(request.user)
    return _credentials_page(request, project=None, access=None, redirect_to=redirect("credentials:site"))


@sensitive_post_parameters("secret")
@require_http_methods(["GET", "POST"])
def project_credentials(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_credentials)
    return _credentials_page(
        request,
        project=access.project,
        access=access,
        redirect_to=redirect("credentials:project", slug=slug),
    )


def _managed_credential(request, credential_id: int):
    """The credential and its page, if the user manages it (site admins: site-wide ones)."""
    credential = get_object_or_404(ProviderCredential, pk=credential_id)
    if credential.project_id is None:
        _require_site_admin(request.user)
        return credential, redirect("credentials:site")
    access = get_project_access(request.user, credential.project.slug)
    access.require(access.can_manage_credentials)
    return credential, redirect("credentials:project", slug=credential.project.slug)


@require_POST
def credential_test_view(request, credential_id: int):
    credential, target = _managed_credential(request, credential_id)
    if not credential.is_active:
        messages.warning(request, f"{credential.label} is revoked; add a new key instead.")
        return target
    result = credential_test(credential=credential, actor=request.user)
    text = f"{credential.label}: {result.summary}" + (f" ({result.detail})" if result.detail else "")
    (messages.success if result.ok else messages.error)(request, text)
    return target


@require_POST
def credential_revoke_view(request, credential_id: int):
    credential, target = _managed_credential(request, credential_id)
    credential_revoke(credential=credential, actor=request.user)
    messages.success(request, f"Revoked {credential.label}.")
    return target
