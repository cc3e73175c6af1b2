from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.accounts.forms import (
    AcceptInvitationForm,
    InvitationForm,
    NotificationSettingsForm,
    ProfileForm,
    UserCreateForm,
)
from finetune_portal.accounts.models import Invitation
from finetune_portal.accounts.services import (
    AccountError,
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_revoke,
    notification_settings_for,
    notification_settings_set,
    profile_update,
    user_create,
)
from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.services import MembershipError


def _base_url(request) -> str:
    return request.build_absolute_uri("/")


@require_http_methods(["GET", "POST"])
def profile(request):
    """Name, e-mail and notification settings; each form posts on its own (``section``)."""
    section = request.POST.get("section") if request.method == "POST" else None
    profile_form = ProfileForm(request.POST if section == "profile" else None, instance=request.user)
    settings_form = NotificationSettingsForm(
        request.POST if section == "notifications" else None, instance=notification_settings_for(request.user)
    )
    if section == "profile" and profile_form.is_valid():
        profile_update(user=request.user, **profile_form.cleaned_data)
        messages.success(request, "Your profile is saved.")
        return redirect("accounts:profile")
    if section == "notifications" and settings_form.is_valid():
        notification_settings_set(user=request.user, **settings_form.cleaned_data)
        messages.success(request, "Your notification settings are saved.")
        return redirect("accounts:profile")
    return render(
        request, "accounts/profile.html", {"profile_form": profile_form, "settings_form": settings_form}
    )


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        messages.success(self.request, "Your password is changed.")
        return super().form_valid(form)


@require_http_methods(["GET", "POST"])
def invite(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    who = request.GET.get("who", "")
    form = InvitationForm(request.POST or None, initial={"email": who if "@" in who else ""})
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            result = invitation_create(
                project=access.project,
                email=email,
                role=form.cleaned_data["role"],
                actor=request.user,
                base_url=_base_url(request),
            )
        except MembershipError as exc:
            form.add_error("role", str(exc))
        else:
            if isinstance(result, Invitation):
                messages.success(request, f"An invitation is on its way to {email}.")
            else:
                messages.success(
                    request, f"{result.user.username} already had an account and is now a member."
                )
            return redirect("accounts:invite", slug=slug)
    pending = access.project.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True)
    context = {
        "access": access,
        "project": access.project,
        "form": form,
        "who": who,
        "invitation_days": settings.INVITATION_MAX_AGE_SECONDS // 86400,
        "pending": pending.select_related("invited_by"),
    }
    return render(request, "accounts/invite.html", context)


@require_POST
def invitation_revoke_view(request, slug: str, invitation_id: int):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    invitation = get_object_or_404(Invitation, pk=invitation_id, project=access.project)
    invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("accounts:invite", slug=slug)


@login_not_required
@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def invitation_view(request, token: str):
    """Accept an invitation: a new account, or (signed in) join the project with the current one."""
    try:
        invitation = invitation_from_token(token)
    except AccountError as exc:
        return render(request, "accounts/invitation_invalid.html", {"reason": str(exc)}, status=410)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptInvitationForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and (signed_in or form.is_valid()):
        try:
            if signed_in:
                invitation_accept(invitation=invitation, user=request.user)
            else:
                data = form.cleaned_data
                invitation_accept(
                    invitation=invitation,
                    username=data["username"],
                    password=data["password1"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                )
        except AccountError as exc:
            return render(request, "accounts/invitation_invalid.html", {"reason": str(exc)}, status=410)
        if signed_in:
            messages.success(request, f"You joined {invitation.project.name}.")
            return redirect("projects:overview", slug=invitation.project.slug)
        messages.success(request, "Your account is ready. Log in with your new password.")
        return redirect("accounts:login")
    return render(request, "accounts/invitation.html", {"invitation": invitation, "form": form})


@require_http_methods(["GET", "POST"])
def user_new(request):
    if not request.user.is_superuser:
        raise PermissionDenied("Only site admins create accounts.")
    form = UserCreateForm(request.POST or None, initial={"project": request.GET.get("project")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_create(actor=request.user, base_url=_base_url(request), **data)
        except AccountError as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(
                request, f"{user.username} was created; a link to set a password went to {user.email}."
            )
            return redirect("accounts:user_new")
    return render(request, "accounts/user_new.html", {"form": form})
