from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.forms import MembershipForm, ProjectForm
from finetune_portal.projects.models import Membership
from finetune_portal.projects.selectors import project_overview, projects_for_user
from finetune_portal.projects.services import (
    MembershipError,
    membership_remove,
    membership_set,
    project_create,
)


def project_list(request):
    return render(request, "projects/list.html", {"projects": projects_for_user(request.user)})


@require_http_methods(["GET", "POST"])
def project_new(request):
    if not request.user.is_superuser:
        raise PermissionDenied("Only site admins create projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = project_create(creator=request.user, **form.cleaned_data)
        messages.success(request, f"Project {project.name} created.")
        return redirect("projects:overview", slug=project.slug)
    return render(request, "projects/new.html", {"form": form})


def project_detail(request, slug: str):
    access = get_project_access(request.user, slug)
    context = {"access": access, "project": access.project, **project_overview(access.project)}
    return render(request, "projects/overview.html", context)


@require_http_methods(["GET", "POST"])
def project_members(request, slug: str):
    access = get_project_access(request.user, slug)
    form = MembershipForm(request.POST or None)
    if request.method == "POST":
        access.require(access.can_manage_members)
        if form.is_valid():
            try:
                membership_set(project=access.project, actor=request.user, **form.cleaned_data)
            except MembershipError as exc:
                form.add_error("role", str(exc))
            else:
                messages.success(request, f"{form.cleaned_data['username']} is now in {access.project.name}.")
                return redirect("projects:members", slug=slug)
    memberships = access.project.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "projects/members.html",
        {"access": access, "project": access.project, "memberships": memberships, "form": form},
    )


@require_POST
def project_member_remove(request, slug: str, membership_id: int):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    membership = get_object_or_404(Membership, pk=membership_id, project=access.project)
    try:
        membership_remove(membership=membership, actor=request.user)
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.username} was removed from the project.")
    return redirect("projects:members", slug=slug)
