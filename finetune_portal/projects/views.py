from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finetune_portal.projects.access import get_project_access
from finetune_portal.projects.audit_labels import ACTIONS, audit_label
from finetune_portal.projects.forms import AuditFilterForm, BudgetForm, MembershipForm, ProjectForm
from finetune_portal.projects.models import Membership
from finetune_portal.projects.selectors import (
    audit_actors,
    audit_entries,
    project_overview,
    projects_for_user,
)
from finetune_portal.projects.services import (
    MembershipError,
    membership_remove,
    membership_set,
    project_budget_set,
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
    context = {
        "access": access,
        "project": access.project,
        "budget_form": BudgetForm(instance=access.project) if access.can_manage_members else None,
        **project_overview(access.project),
    }
    return render(request, "projects/overview.html", context)


@require_POST
def project_budget(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    form = BudgetForm(request.POST, instance=access.project)
    if form.is_valid():
        budget = form.cleaned_data["monthly_budget_usd"]
        project_budget_set(project=access.project, budget_usd=budget, actor=request.user)
        messages.success(
            request, f"Monthly budget set to ${budget:,.2f}." if budget is not None else "No budget now."
        )
    else:
        messages.error(
            request,
            "The budget must be an amount in dollars of 0 or more: "
            + " ".join(form.errors.get("monthly_budget_usd", [])),
        )
    return redirect("projects:overview", slug=slug)


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


AUDIT_ENTRIES_PER_PAGE = 100


def _audit_page(request, *, project, access):
    """The audit log, filtered by person, action and dates; ``?format=csv`` downloads what is filtered.
    Read-only: nothing in the portal edits or deletes an entry."""
    filters = AuditFilterForm(request.GET or None, actors=audit_actors(project))
    chosen = filters.cleaned_data if filters.is_valid() else {}
    person = chosen.get("person")
    entries = audit_entries(
        project=project,
        actor_id=person.pk if person else None,
        action=chosen.get("action", ""),
        since=chosen.get("since"),
        until=chosen.get("until"),
    )
    if request.GET.get("format") == "csv":
        return _audit_csv(entries, name=project.slug if project else "site")
    page = Paginator(entries, AUDIT_ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(entry, audit_label(entry), ACTIONS.get(entry.action, (entry.action,))[0]) for entry in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "access": access,
        "project": project,
        "filters": filters,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
    }
    return render(request, "projects/audit.html", context)


def _audit_csv(entries, *, name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="audit-{name}-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(["time", "person", "action", "what happened", "project", "target"])
    for entry in entries.iterator():
        writer.writerow(
            [
                entry.created_at.isoformat(),
                entry.actor.username if entry.actor else "",
                entry.action,
                _csv_safe(audit_label(entry)),
                entry.project.slug if entry.project else "",
                _csv_safe(entry.target_repr),
            ]
        )
    return response


def _csv_safe(text: str) -> str:
    # A cell starting with = + - @ runs as a formula in spreadsheet programs; names come from users.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


@require_GET
def project_audit(request, slug: str):
    access = get_project_access(request.user, slug)
    access.require(access.can_manage_members)
    return _audit_page(request, project=access.project, access=access)


@require_GET
def site_audit(request):
    if not request.user.is_superuser:
        raise PermissionDenied("Only site admins read the whole site's audit log.")
    return _audit_page(request, project=None, access=None)
